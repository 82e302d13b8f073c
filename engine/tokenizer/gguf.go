package tokenizer

import "fmt"

// Metadata is the part of a GGUF file's metadata FromGGUF reads; the
// *gguf.File of engine/format/gguf satisfies it. Each method reports
// whether the key is present with a value of that kind.
type Metadata interface {
	String(key string) (string, bool)
	Int(key string) (int64, bool)
	Float(key string) (float64, bool)
	Bool(key string) (bool, bool)
	Strings(key string) ([]string, bool)
	Float32s(key string) ([]float32, bool)
	Int32s(key string) ([]int32, bool)
}

// GGUF metadata keys of the tokenizer.
const (
	keyModel       = "tokenizer.ggml.model"
	keyPre         = "tokenizer.ggml.pre"
	keyTokens      = "tokenizer.ggml.tokens"
	keyScores      = "tokenizer.ggml.scores"
	keyTypes       = "tokenizer.ggml.token_type"
	keyMerges      = "tokenizer.ggml.merges"
	keyBOS         = "tokenizer.ggml.bos_token_id"
	keyEOS         = "tokenizer.ggml.eos_token_id"
	keyUNK         = "tokenizer.ggml.unknown_token_id"
	keyPAD         = "tokenizer.ggml.padding_token_id"
	keyAddBOS      = "tokenizer.ggml.add_bos_token"
	keyAddEOS      = "tokenizer.ggml.add_eos_token"
	keySpacePrefix = "tokenizer.ggml.add_space_prefix"
	// KeyChatTemplate holds the model's Jinja chat template.
	KeyChatTemplate = "tokenizer.chat_template"
)

// FromGGUF reads a vocabulary from GGUF metadata, with llama.cpp's
// defaults for keys that are missing (SentencePiece: BOS 1, EOS 2, UNK 0,
// BOS added, space prefix on). Empty token texts are renamed
// "[EMPTY_<id>]" as llama.cpp does. The result is checked as New checks
// it (counts, ids, types, duplicate tokens, merges).
func FromGGUF(md Metadata) (Vocab, error) {
	if md == nil {
		return Vocab{}, fmt.Errorf("tokenizer: no GGUF metadata")
	}
	v := Vocab{BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	var ok bool
	if v.Model, ok = md.String(keyModel); !ok {
		return Vocab{}, fmt.Errorf("tokenizer: GGUF has no %s", keyModel)
	}
	v.Pre, _ = md.String(keyPre)
	if v.Tokens, ok = md.Strings(keyTokens); !ok {
		return Vocab{}, fmt.Errorf("tokenizer: GGUF has no %s string array", keyTokens)
	}
	v.Tokens = renameEmpty(v.Tokens)
	v.Scores, _ = md.Float32s(keyScores)
	v.Types, _ = md.Int32s(keyTypes)
	v.Merges, _ = md.Strings(keyMerges)
	if err := readSpecialIDs(md, &v); err != nil {
		return Vocab{}, err
	}
	if err := readFlags(md, &v); err != nil {
		return Vocab{}, err
	}
	if _, err := New(v); err != nil {
		return Vocab{}, err
	}
	return v, nil
}

func renameEmpty(tokens []string) []string {
	var out []string
	for i, t := range tokens {
		if t != "" {
			continue
		}
		if out == nil {
			out = append([]string(nil), tokens...)
		}
		out[i] = fmt.Sprintf("[EMPTY_%d]", i)
	}
	if out == nil {
		return tokens
	}
	return out
}

func readSpecialIDs(md Metadata, v *Vocab) error {
	if v.Model == ModelLlama {
		v.BOS, v.EOS, v.UNK = 1, 2, 0
	}
	for _, s := range []struct {
		key string
		id  *int
	}{{keyBOS, &v.BOS}, {keyEOS, &v.EOS}, {keyUNK, &v.UNK}, {keyPAD, &v.PAD}} {
		n, ok := md.Int(s.key)
		if !ok {
			continue
		}
		if n < 0 || n >= int64(len(v.Tokens)) {
			return fmt.Errorf("tokenizer: GGUF %s = %d, out of range [0, %d)", s.key, n, len(v.Tokens))
		}
		*s.id = int(n)
	}
	// A default that this vocabulary is too small for is no default.
	for _, id := range []*int{&v.BOS, &v.EOS, &v.UNK} {
		if *id >= len(v.Tokens) {
			*id = -1
		}
	}
	return nil
}

func readFlags(md Metadata, v *Vocab) error {
	switch v.Model {
	case ModelLlama:
		v.AddBOS = v.BOS >= 0
	case ModelGPT2:
		pre, err := findPre(v.Pre)
		if err != nil {
			return err
		}
		v.AddBOS = pre.addBOS && v.BOS >= 0
	}
	if b, ok := md.Bool(keyAddBOS); ok {
		v.AddBOS = b
	}
	if b, ok := md.Bool(keyAddEOS); ok {
		v.AddEOS = b
	}
	if b, ok := md.Bool(keySpacePrefix); ok {
		v.NoSpacePrefix = !b
	}
	return nil
}

// ChatTemplate returns the chat template stored in GGUF metadata, if any.
func ChatTemplate(md Metadata) (string, bool) {
	return md.String(KeyChatTemplate)
}
