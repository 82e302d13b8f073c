package tokenizer

import (
	"fmt"
	"strings"
)

// Token types, as llama.cpp numbers them in tokenizer.ggml.token_type.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Tokenizer models.
const (
	ModelGPT2  = "gpt2"  // byte-level BPE, merges ranked by order
	ModelLlama = "llama" // SentencePiece BPE, merges by score, byte fallback
)

// Limits on what a loader accepts. Real vocabularies stay far below them
// (Gemma's 262k tokens is the largest in use); they exist so that a hostile
// file is refused before it costs memory.
const (
	maxTokens   = 1 << 21 // tokens in a vocabulary
	maxMerges   = 1 << 22 // BPE merges
	maxTokenLen = 1 << 16 // bytes in one token
)

// Vocab is a tokenizer described neutrally: what a GGUF file's
// tokenizer.ggml.* keys or a Hugging Face tokenizer.json hold, without
// either format's quirks. New turns it into a Tokenizer.
type Vocab struct {
	Model  string    // ModelGPT2 or ModelLlama
	Pre    string    // pre-tokenizer, tokenizer.ggml.pre ("gpt-2", "llama-bpe", "qwen2", ...); "" means "default"
	Tokens []string  // token text by id; byte-level vocabularies hold GPT-2's byte-to-unicode text
	Scores []float32 // SentencePiece scores by id (higher merges first); empty means all 0
	Types  []int32   // token types by id (TypeNormal, ...); empty means inferred
	Merges []string  // "left right" pairs, best first; required by ModelGPT2

	BOS, EOS, UNK, PAD int // token ids, -1 when absent

	AddBOS, AddEOS bool // whether the model expects BOS / EOS around every text

	// NoSpacePrefix turns off SentencePiece's leading "▁" (GGUF
	// tokenizer.ggml.add_space_prefix = false). It is a negative so that
	// the zero value keeps SentencePiece's default.
	NoSpacePrefix bool
}

// validate checks everything New relies on, so that the tokenizer itself
// never meets an index out of range.
func (v *Vocab) validate() error {
	if v.Model != ModelGPT2 && v.Model != ModelLlama {
		return fmt.Errorf("tokenizer: unsupported model %q (want %q or %q)", v.Model, ModelGPT2, ModelLlama)
	}
	n := len(v.Tokens)
	if n == 0 {
		return fmt.Errorf("tokenizer: empty vocabulary")
	}
	if n > maxTokens {
		return fmt.Errorf("tokenizer: %d tokens, more than the limit %d", n, maxTokens)
	}
	if len(v.Scores) != 0 && len(v.Scores) != n {
		return fmt.Errorf("tokenizer: %d scores for %d tokens", len(v.Scores), n)
	}
	if len(v.Types) != 0 && len(v.Types) != n {
		return fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}
	if len(v.Merges) > maxMerges {
		return fmt.Errorf("tokenizer: %d merges, more than the limit %d", len(v.Merges), maxMerges)
	}
	if v.Model == ModelGPT2 && len(v.Merges) == 0 {
		return fmt.Errorf("tokenizer: byte-level BPE vocabulary has no merges")
	}
	if err := v.validateTokens(); err != nil {
		return err
	}
	return v.validateSpecialIDs()
}

func (v *Vocab) validateTokens() error {
	for i, t := range v.Tokens {
		if t == "" {
			return fmt.Errorf("tokenizer: token %d is empty", i)
		}
		if len(t) > maxTokenLen {
			return fmt.Errorf("tokenizer: token %d is %d bytes long, more than the limit %d", i, len(t), maxTokenLen)
		}
	}
	for i, ty := range v.Types {
		if ty < TypeUndefined || ty > TypeByte {
			return fmt.Errorf("tokenizer: token %d has unknown type %d", i, ty)
		}
	}
	return nil
}

func (v *Vocab) validateSpecialIDs() error {
	n := len(v.Tokens)
	for _, s := range []struct {
		name string
		id   int
	}{{"BOS", v.BOS}, {"EOS", v.EOS}, {"UNK", v.UNK}, {"PAD", v.PAD}} {
		if s.id < -1 || s.id >= n {
			return fmt.Errorf("tokenizer: %s id %d out of range [0, %d)", s.name, s.id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return fmt.Errorf("tokenizer: AddBOS is set but the vocabulary has no BOS token")
	}
	if v.AddEOS && v.EOS < 0 {
		return fmt.Errorf("tokenizer: AddEOS is set but the vocabulary has no EOS token")
	}
	return nil
}

// splitMerge splits a "left right" merge at its first space after the
// first byte (a left part may itself be a space, as llama.cpp allows).
func splitMerge(m string) (left, right string, ok bool) {
	if len(m) < 3 {
		return "", "", false
	}
	i := strings.IndexByte(m[1:], ' ')
	if i < 0 {
		return "", "", false
	}
	left, right = m[:i+1], m[i+2:]
	return left, right, left != "" && right != ""
}

// byteTokenValue parses a SentencePiece byte token "<0xAB>".
func byteTokenValue(t string) (byte, bool) {
	if len(t) != 6 || t[:3] != "<0x" || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(t[3])
	lo, ok2 := hexDigit(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// byteTokenText is the SentencePiece name of byte b.
func byteTokenText(b byte) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})
}
