package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxJSONBytes bounds a tokenizer.json (Gemma's, the largest in use, is
// about 34 MB).
const maxJSONBytes = 256 << 20

// maxGaps bounds the ids a tokenizer.json leaves without a token (real
// files leave none or a few), so that one huge id cannot make us build a
// vocabulary of padding.
const maxGaps = 1 << 16

// The parts of a Hugging Face tokenizer.json this package reads.
type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    *hfComponent    `json:"normalizer"`
	PreTokenizer  *hfComponent    `json:"pre_tokenizer"`
	PostProcessor *hfComponent    `json:"post_processor"`
	Decoder       *hfComponent    `json:"decoder"`
	RawModel      json.RawMessage `json:"model"`

	Model hfModel `json:"-"` // RawModel, once its type is known to be BPE
}

type hfAddedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type hfModel struct {
	Type                    string            `json:"type"`
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	UnkToken                *string           `json:"unk_token"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
}

// hfComponent is any normalizer, pre-tokenizer, post-processor or decoder;
// each type uses some of the fields.
type hfComponent struct {
	Type string `json:"type"`

	Normalizers   []hfComponent `json:"normalizers"`   // Sequence
	Pretokenizers []hfComponent `json:"pretokenizers"` // Sequence
	Processors    []hfComponent `json:"processors"`    // Sequence
	Decoders      []hfComponent `json:"decoders"`      // Sequence

	Pattern  hfPattern `json:"pattern"`  // Split, Replace
	Content  string    `json:"content"`  // Replace, Strip
	Behavior string    `json:"behavior"` // Split
	Invert   bool      `json:"invert"`   // Split

	AddPrefixSpace *bool `json:"add_prefix_space"` // ByteLevel, Metaspace (old)
	UseRegex       *bool `json:"use_regex"`        // ByteLevel

	Replacement   string `json:"replacement"`    // Metaspace
	PrependScheme string `json:"prepend_scheme"` // Metaspace

	IndividualDigits bool   `json:"individual_digits"` // Digits
	Prepend          string `json:"prepend"`           // Prepend

	Single []hfTemplatePiece `json:"single"` // TemplateProcessing
}

type hfPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type hfTemplatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

// FromTokenizerJSON reads a Hugging Face tokenizer.json with a BPE model,
// byte-level (GPT-2, Llama 3, Qwen2, SmolLM, ...) or SentencePiece-style
// (Metaspace or Replace "▁" with byte fallback: Llama 2, Mistral,
// TinyLlama, Phi-3). tokenizer.json does not name BOS and EOS: they come
// from its post-processor template and from the usual token names, so
// pass tokenizer_config.json to FromTokenizerJSONWithConfig when you have
// it. SentencePiece scores are derived from merge ranks (a token scores
// minus the rank of the first merge that makes it), which orders merges
// as the original scores did.
func FromTokenizerJSON(r io.Reader) (Vocab, error) {
	return FromTokenizerJSONWithConfig(r, nil)
}

// FromTokenizerJSONWithConfig is FromTokenizerJSON with the model's
// tokenizer_config.json (nil if absent), whose bos_token, eos_token,
// unk_token, pad_token, add_bos_token and add_eos_token win. The result
// is checked as New checks it.
func FromTokenizerJSONWithConfig(tokenizerJSON, configJSON io.Reader) (Vocab, error) {
	var f hfFile
	if err := decodeJSON(tokenizerJSON, &f); err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	v, err := f.vocab()
	if err != nil {
		return Vocab{}, err
	}
	if configJSON != nil {
		var c hfConfig
		if err := decodeJSON(configJSON, &c); err != nil {
			return Vocab{}, fmt.Errorf("tokenizer: tokenizer_config.json: %w", err)
		}
		if err := c.apply(&v); err != nil {
			return Vocab{}, err
		}
	}
	if _, err := New(v); err != nil {
		return Vocab{}, err
	}
	return v, nil
}

func decodeJSON(r io.Reader, dst any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxJSONBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxJSONBytes {
		return fmt.Errorf("larger than %d bytes", maxJSONBytes)
	}
	return json.Unmarshal(data, dst)
}

func (f *hfFile) vocab() (Vocab, error) {
	if err := f.readModel(); err != nil {
		return Vocab{}, err
	}
	if p := f.Model.ContinuingSubwordPrefix; p != nil && *p != "" {
		return Vocab{}, fmt.Errorf("tokenizer: BPE continuing_subword_prefix is not supported")
	}
	if s := f.Model.EndOfWordSuffix; s != nil && *s != "" {
		return Vocab{}, fmt.Errorf("tokenizer: BPE end_of_word_suffix is not supported")
	}
	v := Vocab{BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	if err := f.fillTokens(&v); err != nil {
		return Vocab{}, err
	}
	if err := f.readMerges(&v); err != nil {
		return Vocab{}, err
	}
	if err := f.readStyle(&v); err != nil {
		return Vocab{}, err
	}
	f.fillTypes(&v)
	if v.Model == ModelLlama {
		v.Scores = scoresFromMerges(&v)
	}
	f.readSpecials(&v)
	return v, nil
}

// readModel decodes the model once its type says it is BPE, so that
// another model gets an error naming it rather than a JSON type error.
func (f *hfFile) readModel() error {
	var head struct {
		Type   string          `json:"type"`
		Merges json.RawMessage `json:"merges"`
	}
	if len(f.RawModel) == 0 {
		return errors.New("tokenizer: tokenizer.json has no model")
	}
	if err := json.Unmarshal(f.RawModel, &head); err != nil {
		return fmt.Errorf("tokenizer: tokenizer.json model: %w", err)
	}
	if head.Type != "BPE" && !(head.Type == "" && head.Merges != nil) {
		return fmt.Errorf("tokenizer: model type %q is not supported (only BPE)", head.Type)
	}
	if err := json.Unmarshal(f.RawModel, &f.Model); err != nil {
		return fmt.Errorf("tokenizer: tokenizer.json model: %w", err)
	}
	return nil
}

// fillTokens lays the model's vocabulary and the added tokens out by id.
// Ids nobody uses become "[PAD<id>]" unused tokens, as llama.cpp's
// converter does.
func (f *hfFile) fillTokens(v *Vocab) error {
	n := 0
	for tok, id := range f.Model.Vocab {
		if id < 0 || id >= maxTokens {
			return fmt.Errorf("tokenizer: token %q has id %d, out of range [0, %d)", tok, id, maxTokens)
		}
		n = max(n, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxTokens {
			return fmt.Errorf("tokenizer: added token %q has id %d, out of range [0, %d)", a.Content, a.ID, maxTokens)
		}
		n = max(n, a.ID+1)
	}
	v.Tokens = make([]string, n)
	for tok, id := range f.Model.Vocab {
		if v.Tokens[id] != "" {
			return fmt.Errorf("tokenizer: id %d is both %q and %q", id, v.Tokens[id], tok)
		}
		v.Tokens[id] = tok
	}
	for _, a := range f.AddedTokens {
		if v.Tokens[a.ID] != "" && v.Tokens[a.ID] != a.Content {
			return fmt.Errorf("tokenizer: id %d is both %q and added token %q", a.ID, v.Tokens[a.ID], a.Content)
		}
		v.Tokens[a.ID] = a.Content
	}
	v.Types = make([]int32, n)
	gaps := 0
	for i, tok := range v.Tokens {
		v.Types[i] = TypeNormal
		if tok != "" {
			continue
		}
		if gaps++; gaps > maxGaps {
			return fmt.Errorf("tokenizer: more than %d ids below %d have no token", maxGaps, n)
		}
		v.Tokens[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), TypeUnused
	}
	return nil
}

// readMerges accepts both spellings of a merge: "left right" and
// ["left", "right"].
func (f *hfFile) readMerges(v *Vocab) error {
	if len(f.Model.Merges) > maxMerges {
		return fmt.Errorf("tokenizer: %d merges, more than the limit %d", len(f.Model.Merges), maxMerges)
	}
	v.Merges = make([]string, len(f.Model.Merges))
	for i, raw := range f.Model.Merges {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			v.Merges[i] = s
			continue
		}
		var pair []string
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return fmt.Errorf("tokenizer: merge %d is neither \"a b\" nor [\"a\", \"b\"]", i)
		}
		if strings.Contains(pair[0][min(1, len(pair[0])):], " ") {
			return fmt.Errorf("tokenizer: merge %d: a left token with a space inside (%q) is not supported", i, pair[0])
		}
		v.Merges[i] = pair[0] + " " + pair[1]
	}
	return nil
}

// fillTypes sets control, user-defined, unknown and byte types.
func (f *hfFile) fillTypes(v *Vocab) {
	for _, a := range f.AddedTokens {
		if a.Special {
			v.Types[a.ID] = TypeControl
		} else {
			v.Types[a.ID] = TypeUserDefined
		}
	}
	if v.Model == ModelLlama {
		for i, tok := range v.Tokens {
			if _, ok := byteTokenValue(tok); ok && v.Types[i] == TypeNormal {
				v.Types[i] = TypeByte
			}
		}
	}
	if u := f.Model.UnkToken; u != nil {
		for i, tok := range v.Tokens {
			if tok == *u {
				v.UNK, v.Types[i] = i, TypeUnknown
			}
		}
	}
}

// scoresFromMerges gives each token minus the rank of the first merge
// that makes it; tokens no merge makes score below every merge.
func scoresFromMerges(v *Vocab) []float32 {
	ids := make(map[string]int, len(v.Tokens))
	for i, t := range v.Tokens {
		ids[t] = i
	}
	scores := make([]float32, len(v.Tokens))
	set := make([]bool, len(v.Tokens))
	for rank, m := range v.Merges {
		l, r, ok := splitMerge(m)
		if id, found := ids[l+r]; ok && found && !set[id] {
			scores[id], set[id] = -float32(rank), true
		}
	}
	lowest := -float32(len(v.Merges))
	for i := range scores {
		if !set[i] {
			scores[i] = lowest
		}
	}
	return scores
}

// readSpecials finds BOS and EOS from the post-processor's template and,
// failing that, from the usual names.
func (f *hfFile) readSpecials(v *Vocab) {
	bos, eos := templateSpecials(flatten(f.PostProcessor))
	if id := indexOf(v.Tokens, bos); bos != "" && id >= 0 {
		v.BOS, v.AddBOS = id, true
	}
	if id := indexOf(v.Tokens, eos); eos != "" && id >= 0 {
		v.EOS, v.AddEOS = id, true
	}
	if v.BOS < 0 {
		v.BOS = firstOf(v.Tokens, "<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "<|endoftext|>")
	}
	if v.EOS < 0 {
		v.EOS = firstOf(v.Tokens, "</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>")
	}
}

// templateSpecials returns the special tokens a TemplateProcessing puts
// before and after a single sequence.
func templateSpecials(cs []hfComponent) (before, after string) {
	for _, c := range cs {
		if c.Type != "TemplateProcessing" {
			continue
		}
		seen := false
		for _, p := range c.Single {
			switch {
			case p.Sequence != nil:
				seen = true
			case p.SpecialToken != nil && !seen && before == "":
				before = p.SpecialToken.ID
			case p.SpecialToken != nil && seen:
				after = p.SpecialToken.ID
			}
		}
	}
	return before, after
}

func indexOf(tokens []string, s string) int {
	for i, t := range tokens {
		if t == s {
			return i
		}
	}
	return -1
}

func firstOf(tokens []string, names ...string) int {
	for _, n := range names {
		if id := indexOf(tokens, n); id >= 0 {
			return id
		}
	}
	return -1
}
