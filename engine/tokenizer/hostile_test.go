package tokenizer

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// A minimal valid byte-level tokenizer.json, which the cases below break.
const goodJSON = `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}}`

func TestHostileTokenizerJSON(t *testing.T) {
	if _, err := FromTokenizerJSON(strings.NewReader(goodJSON)); err != nil {
		t.Fatalf("the good file: %v", err)
	}
	cases := []struct{ name, json, want string }{
		{"not JSON", `{"model": `, "tokenizer.json"},
		{"wrong type", `{"model": {"type": "BPE", "vocab": []}}`, "tokenizer.json"},
		{"unigram", `{"model": {"type": "Unigram", "vocab": []}}`, "not supported"},
		{"empty vocab", `{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}`, "empty vocabulary"},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`, "out of range"},
		{"huge id", `{"model": {"type": "BPE", "vocab": {"a": 99999999}, "merges": []}}`, "out of range"},
		{"many gaps", `{"model": {"type": "BPE", "vocab": {"a": 1000000}, "merges": []}}`, "have no token"},
		{"id twice", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}`, "is both"},
		{"added clash", `{"added_tokens": [{"id": 0, "content": "x"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, "is both"},
		{"bad merge", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}}`, "merge 0"},
		{"triple merge", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b", "c"]]}}`, "merge 0"},
		{"no style", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, "neither"},
		{"both styles", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}, "pre_tokenizer": {"type": "ByteLevel"}}`, "neither"},
		{"unknown split", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "x+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}}`, "unsupported pre-tokenizer"},
		{"whitespace pre", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "ByteLevel"}]}}`, "not supported"},
		{"prefix space", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true}}`, "add_prefix_space"},
		{"wordpiece prefix", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "continuing_subword_prefix": "##"}}`, "continuing_subword_prefix"},
		{"no merges", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}`, "no merges"},
	}
	for _, c := range cases {
		_, err := FromTokenizerJSON(strings.NewReader(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	for name, js := range map[string]string{
		"merge of unknown tokens": strings.Replace(goodJSON, `"a b"`, `"a c"`, 1),
		"merge without result":    strings.Replace(goodJSON, `"ab": 2`, `"ba": 2`, 1),
	} {
		_, err := FromTokenizerJSON(strings.NewReader(js))
		if err == nil || !strings.Contains(err.Error(), "not in the vocabulary") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestHostileConfig(t *testing.T) {
	for name, cfg := range map[string]string{
		"unknown bos": `{"bos_token": "<nope>"}`,
		"not JSON":    `{"bos_token": `,
	} {
		_, err := FromTokenizerJSONWithConfig(strings.NewReader(goodJSON), strings.NewReader(cfg))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	v, err := FromTokenizerJSONWithConfig(strings.NewReader(goodJSON),
		strings.NewReader(`{"bos_token": {"content": "a"}, "eos_token": "b", "add_bos_token": true}`))
	if err != nil || v.BOS != 0 || v.EOS != 1 || !v.AddBOS {
		t.Errorf("config: %+v, %v", v, err)
	}
}

func TestHostileVocab(t *testing.T) {
	good := func() Vocab {
		return Vocab{Model: ModelLlama, Tokens: []string{"<unk>", "a", "b", "ab"}, BOS: -1, EOS: -1, UNK: 0, PAD: -1}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("the good vocabulary: %v", err)
	}
	cases := []struct {
		name   string
		change func(v *Vocab)
		want   string
	}{
		{"model", func(v *Vocab) { v.Model = "bert" }, "unsupported model"},
		{"empty", func(v *Vocab) { v.Tokens = nil }, "empty vocabulary"},
		{"empty token", func(v *Vocab) { v.Tokens[2] = "" }, "is empty"},
		{"duplicate", func(v *Vocab) { v.Tokens[2] = "a" }, "appears twice"},
		{"scores", func(v *Vocab) { v.Scores = []float32{1} }, "scores for"},
		{"types", func(v *Vocab) { v.Types = []int32{1, 1} }, "token types for"},
		{"bad type", func(v *Vocab) { v.Types = []int32{1, 1, 9, 1} }, "unknown type"},
		{"bos range", func(v *Vocab) { v.BOS = 4 }, "out of range"},
		{"eos negative", func(v *Vocab) { v.EOS = -2 }, "out of range"},
		{"add bos", func(v *Vocab) { v.AddBOS = true }, "no BOS"},
		{"add eos", func(v *Vocab) { v.AddEOS = true }, "no EOS"},
		{"long token", func(v *Vocab) { v.Tokens[1] = strings.Repeat("x", maxTokenLen+1) }, "limit"},
		{"gpt2 merges", func(v *Vocab) { v.Model = ModelGPT2 }, "no merges"},
		{"gpt2 pre", func(v *Vocab) { v.Model, v.Pre, v.Merges = ModelGPT2, "klingon", []string{"a b"} }, "pre-tokenizer"},
		{"merge form", func(v *Vocab) { v.Model, v.Merges = ModelGPT2, []string{"ab"} }, "two tokens"},
		{"merge tokens", func(v *Vocab) { v.Model, v.Merges = ModelGPT2, []string{"a c"} }, "not in the vocabulary"},
	}
	for _, c := range cases {
		v := good()
		c.change(&v)
		_, err := New(v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// fakeMeta is GGUF metadata held in a map.
type fakeMeta map[string]any

func get[T any](m fakeMeta, key string) (T, bool) {
	v, ok := m[key].(T)
	return v, ok
}

func (m fakeMeta) String(k string) (string, bool)      { return get[string](m, k) }
func (m fakeMeta) Int(k string) (int64, bool)          { return get[int64](m, k) }
func (m fakeMeta) Float(k string) (float64, bool)      { return get[float64](m, k) }
func (m fakeMeta) Bool(k string) (bool, bool)          { return get[bool](m, k) }
func (m fakeMeta) Strings(k string) ([]string, bool)   { return get[[]string](m, k) }
func (m fakeMeta) Float32s(k string) ([]float32, bool) { return get[[]float32](m, k) }
func (m fakeMeta) Int32s(k string) ([]int32, bool)     { return get[[]int32](m, k) }

func TestHostileGGUF(t *testing.T) {
	good := func() fakeMeta {
		return fakeMeta{keyModel: "llama", keyTokens: []string{"<unk>", "<s>", "</s>", "a"},
			keyScores: []float32{0, 0, 0, -1}, keyTypes: []int32{2, 3, 3, 1}}
	}
	v, err := FromGGUF(good())
	if err != nil || v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || !v.AddBOS {
		t.Fatalf("the good metadata: %+v, %v", v, err)
	}
	cases := []struct {
		name   string
		change func(m fakeMeta)
		want   string
	}{
		{"no model", func(m fakeMeta) { delete(m, keyModel) }, keyModel},
		{"no tokens", func(m fakeMeta) { delete(m, keyTokens) }, keyTokens},
		{"empty tokens", func(m fakeMeta) { m[keyTokens] = []string{} }, "empty vocabulary"},
		{"scores", func(m fakeMeta) { m[keyScores] = []float32{0} }, "scores for"},
		{"types", func(m fakeMeta) { m[keyTypes] = []int32{1, 1, 1, 1, 1} }, "token types for"},
		{"bos", func(m fakeMeta) { m[keyBOS] = int64(4) }, "out of range"},
		{"pad", func(m fakeMeta) { m[keyPAD] = int64(-3) }, "out of range"},
		{"unk type", func(m fakeMeta) { m[keyModel] = "t5" }, "unsupported model"},
		{"gpt2 no merges", func(m fakeMeta) { m[keyModel] = "gpt2" }, "no merges"},
		{"gpt2 pre", func(m fakeMeta) { m[keyModel], m[keyPre], m[keyMerges] = "gpt2", "klingon", []string{"a a"} }, "pre-tokenizer"},
		{"merge", func(m fakeMeta) { m[keyModel], m[keyPre], m[keyMerges] = "gpt2", "gpt-2", []string{"a x"} }, "not in the vocabulary"},
		{"duplicate", func(m fakeMeta) { m[keyTokens] = []string{"<unk>", "<s>", "a", "a"} }, "twice"},
		{"add bos without bos", func(m fakeMeta) { m[keyTokens] = []string{"a"}; m[keyScores], m[keyTypes] = nil, nil }, ""},
	}
	for _, c := range cases {
		m := good()
		c.change(m)
		_, err := FromGGUF(m)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	m := good()
	m[keyTokens] = []string{"<unk>", "", "", "a"}
	v, err = FromGGUF(m)
	if err != nil || v.Tokens[1] != "[EMPTY_1]" {
		t.Errorf("empty tokens: %q, %v", v.Tokens, err)
	}
}

// FuzzFromTokenizerJSON feeds the loader arbitrary bytes: it must return
// an error or a vocabulary whose tokenizer works, whose tokenizer.json
// loads again, and, for byte-level BPE, gives the same ids again.
func FuzzFromTokenizerJSON(f *testing.F) {
	f.Add([]byte(goodJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := FromTokenizerJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		tok, err := New(v)
		if err != nil {
			return
		}
		const probe = "Hello, wörld! 123 <s><|endoftext|> \n\t 🦙 ab ba"
		opts := EncodeOptions{AddBOS: true, ParseSpecial: true}
		ids := tok.Encode(probe, opts)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if s := tok.Decode(ids); !utf8.ValidString(s) {
			t.Fatalf("Decode gave invalid UTF-8 %q", s)
		}
		js, err := ToTokenizerJSON(v)
		if err != nil {
			t.Fatalf("ToTokenizerJSON of a good vocabulary: %v", err)
		}
		w, err := FromTokenizerJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatalf("reading back: %v\n%s", err, js)
		}
		tok2, err := New(w)
		if err != nil {
			t.Fatalf("New after reading back: %v", err)
		}
		if again := tok2.Encode(probe, opts); v.Model == ModelGPT2 && !equalInts(again, ids) {
			t.Fatalf("ids %v, after a round trip %v", ids, again)
		}
	})
}

// FuzzEncode feeds both test vocabularies arbitrary text: ids stay in
// range, decoding is valid UTF-8 and streams the same, and text without
// special tokens (or, for SentencePiece, "▁") decodes to itself.
func FuzzEncode(f *testing.F) {
	gpt2 := newTokenizer(f, loadGGUFVocab(f, "ggml-vocab-gpt-2.gguf"))
	llama := newTokenizer(f, loadGGUFVocab(f, "ggml-vocab-llama-spm.gguf"))
	for _, c := range loadVectors(f, "ggml-vocab-gpt-2.gguf") {
		f.Add(c.text, false)
	}
	f.Add("<s>Hello<|endoftext|>", true)
	f.Fuzz(func(t *testing.T, text string, parseSpecial bool) {
		for _, tok := range []*Tokenizer{gpt2, llama} {
			ids := tok.Encode(text, EncodeOptions{ParseSpecial: parseSpecial})
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("id %d out of range", id)
				}
			}
			checkStream(t, tok, ids)
			roundTrips := utf8.ValidString(text) && !parseSpecial &&
				(tok == gpt2 || !strings.Contains(text, "▁"))
			if got := tok.Decode(ids); roundTrips && got != text {
				t.Fatalf("Decode(Encode(%q)) = %q", text, got)
			}
		}
	})
}
