package tokenizer

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Tokenizer encodes text to token ids and back. It is immutable after New
// and safe for concurrent use.
type Tokenizer struct {
	vocab  Vocab // as given, with Types filled in
	ids    map[string]int32
	scores []float32 // SentencePiece only; NaN read as -Inf

	pre      preTokenizer     // byte-level only
	bytes    *byteMap         // byte-level only
	merges   map[uint64]merge // byte-level only: (left id, right id) -> merge
	byteIDs  [256]int32       // SentencePiece only: <0xXX> ids, -1 if absent
	specials []int32          // control, user-defined and unknown tokens, longest first
}

// merge is the rank of a merge rule and the token it makes.
type merge struct {
	rank int32
	id   int32
}

// EncodeOptions choose what Encode adds to the text's tokens.
type EncodeOptions struct {
	AddBOS bool // put BOS first (if the vocabulary has one)
	AddEOS bool // put EOS last (if the vocabulary has one)
	// ParseSpecial lets control tokens (and the unknown token) written in
	// the text, such as "<|im_start|>", stand for themselves. User-defined
	// tokens always do, as in llama.cpp and tokenizers.
	ParseSpecial bool
}

// New checks v and builds its tokenizer.
func New(v Vocab) (*Tokenizer, error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	// Own copies, so that a caller changing its slices cannot change us.
	v.Tokens, v.Scores, v.Types = slices.Clone(v.Tokens), slices.Clone(v.Scores), slices.Clone(v.Types)
	v.Merges = slices.Clone(v.Merges)
	t := &Tokenizer{vocab: v}
	t.vocab.Types = inferTypes(&v)
	if err := t.indexTokens(); err != nil {
		return nil, err
	}
	t.indexSpecials()
	if v.Model == ModelLlama {
		t.initSentencePiece()
		return t, nil
	}
	if err := t.initByteLevel(); err != nil {
		return nil, err
	}
	return t, nil
}

// inferTypes returns v's token types, or, when v has none, types guessed
// the way a converter would set them: BOS and EOS control, UNK unknown,
// and for SentencePiece the <0xXX> tokens bytes.
func inferTypes(v *Vocab) []int32 {
	if len(v.Types) != 0 {
		return v.Types
	}
	types := make([]int32, len(v.Tokens))
	for i, tok := range v.Tokens {
		types[i] = TypeNormal
		if _, ok := byteTokenValue(tok); ok && v.Model == ModelLlama {
			types[i] = TypeByte
		}
	}
	for _, id := range []int{v.BOS, v.EOS} {
		if id >= 0 {
			types[id] = TypeControl
		}
	}
	if v.UNK >= 0 {
		types[v.UNK] = TypeUnknown
	}
	return types
}

func (t *Tokenizer) indexTokens() error {
	t.ids = make(map[string]int32, len(t.vocab.Tokens))
	for i, tok := range t.vocab.Tokens {
		if j, dup := t.ids[tok]; dup {
			return fmt.Errorf("tokenizer: token %q appears twice, as %d and %d", tok, j, i)
		}
		t.ids[tok] = int32(i)
	}
	return nil
}

// indexSpecials lists the tokens matched literally before the model runs,
// longest first so that "<|im_start|>" wins over a shorter prefix of it.
func (t *Tokenizer) indexSpecials() {
	for i, ty := range t.vocab.Types {
		if ty == TypeControl || ty == TypeUserDefined || ty == TypeUnknown {
			t.specials = append(t.specials, int32(i))
		}
	}
	sort.SliceStable(t.specials, func(a, b int) bool {
		return len(t.vocab.Tokens[t.specials[a]]) > len(t.vocab.Tokens[t.specials[b]])
	})
}

func (t *Tokenizer) initByteLevel() error {
	pre, err := findPre(t.vocab.Pre)
	if err != nil {
		return err
	}
	t.pre = pre
	t.bytes = newByteMap()
	t.merges = make(map[uint64]merge, len(t.vocab.Merges))
	for rank, m := range t.vocab.Merges {
		if err := t.addMerge(rank, m); err != nil {
			return err
		}
	}
	return nil
}

// addMerge records merge rule m. Like tokenizers, it wants both halves
// and their concatenation in the vocabulary; a repeated pair keeps its
// first (best) rank.
func (t *Tokenizer) addMerge(rank int, m string) error {
	left, right, ok := splitMerge(m)
	if !ok {
		return fmt.Errorf("tokenizer: merge %d (%q) is not two tokens separated by a space", rank, m)
	}
	l, okL := t.ids[left]
	r, okR := t.ids[right]
	id, okID := t.ids[left+right]
	if !okL || !okR || !okID {
		return fmt.Errorf("tokenizer: merge %d (%q) uses a token not in the vocabulary", rank, m)
	}
	key := pairKey(l, r)
	if _, seen := t.merges[key]; !seen {
		t.merges[key] = merge{rank: int32(rank), id: id}
	}
	return nil
}

func pairKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

func (t *Tokenizer) initSentencePiece() {
	t.scores = make([]float32, len(t.vocab.Tokens))
	for i := range t.scores {
		if i < len(t.vocab.Scores) {
			t.scores[i] = t.vocab.Scores[i]
		}
		if math.IsNaN(float64(t.scores[i])) {
			t.scores[i] = float32(math.Inf(-1))
		}
	}
	for b := range t.byteIDs {
		t.byteIDs[b] = -1
		if id, ok := t.ids[byteTokenText(byte(b))]; ok {
			t.byteIDs[b] = id
		}
	}
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.vocab.Tokens) }

// BOS is the beginning-of-sequence token id, -1 if none.
func (t *Tokenizer) BOS() int { return t.vocab.BOS }

// EOS is the end-of-sequence token id, -1 if none.
func (t *Tokenizer) EOS() int { return t.vocab.EOS }

// UNK is the unknown token id, -1 if none.
func (t *Tokenizer) UNK() int { return t.vocab.UNK }

// PAD is the padding token id, -1 if none.
func (t *Tokenizer) PAD() int { return t.vocab.PAD }

// TokenText is token id's text as the vocabulary spells it ("" if id is
// out of range).
func (t *Tokenizer) TokenText(id int) string {
	if id < 0 || id >= len(t.vocab.Tokens) {
		return ""
	}
	return t.vocab.Tokens[id]
}

// TokenType is token id's type (TypeNormal, ...); TypeUndefined if id is
// out of range.
func (t *Tokenizer) TokenType(id int) int32 {
	if id < 0 || id >= len(t.vocab.Types) {
		return TypeUndefined
	}
	return t.vocab.Types[id]
}

// TokenID finds a token by its exact text.
func (t *Tokenizer) TokenID(text string) (int, bool) {
	id, ok := t.ids[text]
	return int(id), ok
}

// Vocab returns a copy of the vocabulary, with the token types New
// inferred filled in.
func (t *Tokenizer) Vocab() Vocab {
	v := t.vocab
	v.Tokens, v.Scores, v.Types = slices.Clone(v.Tokens), slices.Clone(v.Scores), slices.Clone(v.Types)
	v.Merges = slices.Clone(v.Merges)
	return v
}

// IsEndOfGeneration reports whether generation should stop at token id:
// EOS, or a control token that ends a turn in some chat format (the names
// llama.cpp recognises: <|im_end|>, <|eot_id|>, <end_of_turn>, ...).
func (t *Tokenizer) IsEndOfGeneration(id int) bool {
	if id < 0 || id >= len(t.vocab.Tokens) {
		return false
	}
	if id == t.vocab.EOS {
		return true
	}
	if t.vocab.Types[id] != TypeControl {
		return false
	}
	switch t.vocab.Tokens[id] {
	case "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<|end_of_text|>", "<EOT>", "<|eom_id|>", "</s>", "<eos>":
		return true
	}
	return false
}

// DefaultEncodeOptions are the options the model expects for a whole
// prompt: BOS and EOS as its vocabulary says, no special parsing.
func (t *Tokenizer) DefaultEncodeOptions() EncodeOptions {
	return EncodeOptions{AddBOS: t.vocab.AddBOS, AddEOS: t.vocab.AddEOS}
}

// Encode turns text into token ids.
func (t *Tokenizer) Encode(text string, opts EncodeOptions) []int {
	var out []int
	if opts.AddBOS && t.vocab.BOS >= 0 {
		out = append(out, t.vocab.BOS)
	}
	prevSpecial := true // SentencePiece prefixes a space at the start and after specials
	var sc scratch
	for _, f := range t.partition(text, opts.ParseSpecial) {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		if t.vocab.Model == ModelGPT2 {
			out = t.encodeByteLevel(out, f.text, &sc)
		} else {
			out = t.encodeSentencePiece(out, f.text, prevSpecial, &sc)
		}
		prevSpecial = false
	}
	if opts.AddEOS && t.vocab.EOS >= 0 {
		out = append(out, t.vocab.EOS)
	}
	return out
}
