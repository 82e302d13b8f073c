package tokenizer

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// What ToTokenizerJSON writes: the layout tokenizers itself serializes.
type hfOut struct {
	Version       string       `json:"version"`
	Truncation    any          `json:"truncation"`
	Padding       any          `json:"padding"`
	AddedTokens   []hfAddedOut `json:"added_tokens"`
	Normalizer    any          `json:"normalizer"`
	PreTokenizer  any          `json:"pre_tokenizer"`
	PostProcessor any          `json:"post_processor"`
	Decoder       any          `json:"decoder"`
	Model         hfModelOut   `json:"model"`
}

type hfAddedOut struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModelOut struct {
	Type                    string         `json:"type"`
	Dropout                 any            `json:"dropout"`
	UnkToken                *string        `json:"unk_token"`
	ContinuingSubwordPrefix any            `json:"continuing_subword_prefix"`
	EndOfWordSuffix         any            `json:"end_of_word_suffix"`
	FuseUnk                 bool           `json:"fuse_unk"`
	ByteFallback            bool           `json:"byte_fallback"`
	IgnoreMerges            bool           `json:"ignore_merges"`
	Vocab                   map[string]int `json:"vocab"`
	Merges                  any            `json:"merges"` // []string, or [][2]string when a token holds a space
}

// obj is a JSON object for the small components.
type obj = map[string]any

// ToTokenizerJSON writes v as a Hugging Face tokenizer.json that
// FromTokenizerJSON reads back to a tokenizer giving the same ids, in the
// layout tokenizers itself writes. Control, unknown and user-defined
// tokens become added tokens. A SentencePiece vocabulary without merges
// gets them from its scores (every split of a token into two tokens, best
// score first), as tokenizers' own converter does. BOS and EOS appear only
// in the post-processor when they are added; ToTokenizerConfigJSON
// records them in full.
func ToTokenizerJSON(v Vocab) ([]byte, error) {
	t, err := New(v)
	if err != nil {
		return nil, err
	}
	out := hfOut{
		Version:       "1.0",
		AddedTokens:   t.addedTokens(),
		PostProcessor: t.postProcessor(),
		Model:         t.modelOut(),
	}
	if t.vocab.Model == ModelGPT2 {
		out.PreTokenizer = byteLevelPre(t.pre)
		out.Decoder = obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}
	} else {
		out.Normalizer = t.spmNormalizer()
		out.Decoder = t.spmDecoder()
	}
	return marshal(out)
}

// ToTokenizerConfigJSON writes the tokenizer_config.json that goes with
// ToTokenizerJSON's file: special tokens, whether BOS and EOS are added,
// and chatTemplate if not empty.
func ToTokenizerConfigJSON(v Vocab, chatTemplate string) ([]byte, error) {
	t, err := New(v)
	if err != nil {
		return nil, err
	}
	c := obj{
		"tokenizer_class":              "PreTrainedTokenizerFast",
		"add_bos_token":                t.vocab.AddBOS,
		"add_eos_token":                t.vocab.AddEOS,
		"clean_up_tokenization_spaces": false,
	}
	for name, id := range map[string]int{"bos_token": t.vocab.BOS, "eos_token": t.vocab.EOS, "unk_token": t.vocab.UNK, "pad_token": t.vocab.PAD} {
		c[name] = nil
		if id >= 0 {
			c[name] = t.vocab.Tokens[id]
		}
	}
	if chatTemplate != "" {
		c["chat_template"] = chatTemplate
	}
	return marshal(c)
}

// marshal writes indented JSON without escaping <, > and &, which fill
// special tokens.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (t *Tokenizer) addedTokens() []hfAddedOut {
	added := []hfAddedOut{}
	for id, ty := range t.vocab.Types {
		if ty == TypeControl || ty == TypeUnknown || ty == TypeUserDefined {
			added = append(added, hfAddedOut{ID: id, Content: t.vocab.Tokens[id], Special: ty != TypeUserDefined})
		}
	}
	return added
}

func (t *Tokenizer) modelOut() hfModelOut {
	m := hfModelOut{Type: "BPE", Vocab: make(map[string]int, len(t.vocab.Tokens))}
	for id, tok := range t.vocab.Tokens {
		m.Vocab[tok] = id
	}
	if t.vocab.UNK >= 0 {
		m.UnkToken = &t.vocab.Tokens[t.vocab.UNK]
	}
	merges := t.vocab.Merges
	if t.vocab.Model == ModelLlama {
		m.FuseUnk, m.ByteFallback = true, true
		if len(merges) == 0 {
			merges = t.mergesFromScores()
		}
	} else {
		m.IgnoreMerges = t.pre.ignoreMerges
	}
	m.Merges = mergesOut(merges)
	return m
}

// mergesOut writes merges as "a b" strings, or as pairs when a token
// holds a space and the string form would be ambiguous.
func mergesOut(merges []string) any {
	pairs := make([][2]string, len(merges))
	spaced := false
	for i, m := range merges {
		l, r, _ := splitMerge(m)
		pairs[i] = [2]string{l, r}
		spaced = spaced || strings.Contains(l, " ") || strings.Contains(r, " ")
	}
	if spaced {
		return pairs
	}
	return append([]string{}, merges...)
}

// mergesFromScores lists, for every token that plain text can reach,
// each split into two such tokens, best token score first.
func (t *Tokenizer) mergesFromScores() []string {
	type cand struct {
		score    float32
		id, left int32
		merge    string
	}
	var cands []cand
	for id, tok := range t.vocab.Tokens {
		if t.textID(tok) < 0 {
			continue
		}
		for i := range tok {
			if i == 0 {
				continue
			}
			l, r := t.textID(tok[:i]), t.textID(tok[i:])
			if l >= 0 && r >= 0 {
				cands = append(cands, cand{t.scores[id], int32(id), l, tok[:i] + " " + tok[i:]})
			}
		}
	}
	sort.SliceStable(cands, func(a, b int) bool {
		if cands[a].score != cands[b].score {
			return cands[a].score > cands[b].score
		}
		if cands[a].id != cands[b].id {
			return cands[a].id < cands[b].id
		}
		return cands[a].left < cands[b].left
	})
	merges := make([]string, len(cands))
	for i, c := range cands {
		merges[i] = c.merge
	}
	return merges
}

// byteLevelPre spells a pre-tokenizer family as tokenizers components:
// its regex stages, then ByteLevel (which runs the GPT-2 regex itself
// when that is the last stage).
func byteLevelPre(p preTokenizer) any {
	var seq []any
	last := len(p.regexes) - 1
	for i, re := range p.regexes {
		switch {
		case re == reGPT2 && i == last:
			seq = append(seq, byteLevelComponent(true))
		case re == reGPT2:
			seq = append(seq, splitComponent(reGPT2HF))
		case re == reDigit:
			seq = append(seq, obj{"type": "Digits", "individual_digits": true})
		case re == reDigits:
			seq = append(seq, obj{"type": "Digits", "individual_digits": false})
		default:
			seq = append(seq, splitComponent(re))
		}
	}
	if p.regexes[last] != reGPT2 {
		seq = append(seq, byteLevelComponent(false))
	}
	if len(seq) == 1 {
		return seq[0]
	}
	return obj{"type": "Sequence", "pretokenizers": seq}
}

func byteLevelComponent(useRegex bool) obj {
	return obj{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": useRegex}
}

func splitComponent(re string) obj {
	return obj{"type": "Split", "pattern": obj{"Regex": re}, "behavior": "Isolated", "invert": false}
}

func (t *Tokenizer) spmNormalizer() any {
	replace := obj{"type": "Replace", "pattern": obj{"String": " "}, "content": "▁"}
	if t.vocab.NoSpacePrefix {
		return replace
	}
	prepend := obj{"type": "Prepend", "prepend": "▁"}
	return obj{"type": "Sequence", "normalizers": []any{prepend, replace}}
}

func (t *Tokenizer) spmDecoder() any {
	decoders := []any{
		obj{"type": "Replace", "pattern": obj{"String": "▁"}, "content": " "},
		obj{"type": "ByteFallback"},
		obj{"type": "Fuse"},
	}
	if !t.vocab.NoSpacePrefix {
		decoders = append(decoders, obj{"type": "Strip", "content": " ", "start": 1, "stop": 0})
	}
	return obj{"type": "Sequence", "decoders": decoders}
}

// postProcessor adds BOS / EOS around a sequence when the vocabulary
// wants them, as a TemplateProcessing.
func (t *Tokenizer) postProcessor() any {
	var specials []int
	var single, pair []any
	special := func(id, typeID int) obj {
		return obj{"SpecialToken": obj{"id": t.vocab.Tokens[id], "type_id": typeID}}
	}
	sequence := func(name string, typeID int) obj {
		return obj{"Sequence": obj{"id": name, "type_id": typeID}}
	}
	if t.vocab.AddBOS {
		specials = append(specials, t.vocab.BOS)
		single = append(single, special(t.vocab.BOS, 0))
		pair = append(pair, special(t.vocab.BOS, 0))
	}
	single = append(single, sequence("A", 0))
	pair = append(pair, sequence("A", 0))
	if t.vocab.AddEOS {
		specials = append(specials, t.vocab.EOS)
		single = append(single, special(t.vocab.EOS, 0))
		pair = append(pair, special(t.vocab.EOS, 0))
	}
	if len(specials) == 0 {
		return nil
	}
	if t.vocab.AddBOS {
		pair = append(pair, special(t.vocab.BOS, 1))
	}
	pair = append(pair, sequence("B", 1))
	if t.vocab.AddEOS {
		pair = append(pair, special(t.vocab.EOS, 1))
	}
	table := obj{}
	for _, id := range specials {
		tok := t.vocab.Tokens[id]
		table[tok] = obj{"id": tok, "ids": []int{id}, "tokens": []string{tok}}
	}
	return obj{"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": table}
}
