package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"webpeft/engine/model"
	"webpeft/engine/tensor"
	"webpeft/engine/tokenizer"
)

// lincolnText is a stand-in training text.
var lincolnText = strings.Repeat(`Fellow-Citizens of the Senate and House of Representatives: In the midst of
unprecedented political troubles we have cause of great gratitude to God for unusual good
health and most abundant harvests. The struggle of to-day is not altogether for to-day;
it is for a vast future also. Email: spam or ham? Label: spam. Label: ham.
`, 3)

// trainedTokenizer runs `webpeft tokenizer-train` on lincolnText and
// reads the tokenizer.json back.
func trainedTokenizer(t *testing.T, vocab string) (tokenizer.Vocab, tokenizerTrainJSON) {
	t.Helper()
	dir := t.TempDir()
	data, val, out := filepath.Join(dir, "a.txt"), filepath.Join(dir, "val.txt"), filepath.Join(dir, "tokenizer.json")
	os.WriteFile(data, []byte(lincolnText), 0o644)
	os.WriteFile(val, []byte("An unseen sentence, with ünïcödé."), 0o644)
	var res bytes.Buffer
	if err := run([]string{"tokenizer-train", "--data", data, "--eval", val, "--vocab", vocab, "--out", out}, &res); err != nil {
		t.Fatal(err)
	}
	var info tokenizerTrainJSON
	if err := json.Unmarshal(res.Bytes(), &info); err != nil {
		t.Fatalf("%v: %s", err, res.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := tokenizer.FromTokenizerJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return v, info
}

// TestTokenizerTrainCommand: the command writes a tokenizer.json of the
// size asked for and reports tokens per word and the round trip of the
// data and of the held-out file.
func TestTokenizerTrainCommand(t *testing.T) {
	v, info := trainedTokenizer(t, "300")
	if len(v.Tokens) != 300 || info.VocabSize != 300 || info.Merges < 300-257 || v.Pre != "gpt-2" || !v.AddBOS {
		t.Fatalf("%d tokens, %+v, pre %q, AddBOS %v", len(v.Tokens), info, v.Pre, v.AddBOS)
	}
	if len(info.Check) != 2 || !info.Check[0].RoundTrip || !info.Check[1].RoundTrip ||
		info.Check[0].TokensPerWord <= 0 || info.Check[0].TokensPerWord >= info.Check[1].TokensPerWord {
		t.Errorf("check: %+v", info.Check)
	}
	err := run([]string{"tokenizer-train", "--data", "no-such-file.txt", "--out", filepath.Join(t.TempDir(), "t.json")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "make corpus") {
		t.Errorf("missing data: %v", err)
	}
}

// TestTrainedTokenizerInGGUF: a random model carrying the trained
// vocabulary is written as GGUF (tokenizer.ggml.model "gpt2", pre
// "gpt-2") and opened again with the same vocabulary, encoding alike.
func TestTrainedTokenizerInGGUF(t *testing.T) {
	v, _ := trainedTokenizer(t, "300")
	m := tinyModelWithVocab(t, v)
	var buf bytes.Buffer
	if err := model.WriteGGUF(&buf, m, tensor.F32); err != nil {
		t.Fatal(err)
	}
	back, err := model.OpenGGUF(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if back.Vocab == nil || back.Vocab.Model != "gpt2" || back.Vocab.Pre != "gpt-2" || back.Spec.Vocab != len(v.Tokens) {
		t.Fatalf("read back: %+v", back.Vocab)
	}
	if !slices.Equal(back.Vocab.Tokens, v.Tokens) || !slices.Equal(back.Vocab.Merges, v.Merges) ||
		back.Vocab.BOS != v.BOS || back.Vocab.EOS != v.EOS || back.Vocab.AddBOS != v.AddBOS {
		t.Fatal("the vocabulary changed through GGUF")
	}
	a, _ := tokenizer.New(v)
	b, err := tokenizer.New(*back.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{lincolnText, "Email: free money | click here\nLabel: spam"} {
		x, y := a.Encode(s, a.DefaultEncodeOptions()), b.Encode(s, b.DefaultEncodeOptions())
		if !slices.Equal(x, y) || b.Decode(y) != s {
			t.Errorf("%q encodes differently after GGUF", s)
		}
	}
}

// tinyModelWithVocab is a seeded random llama model whose embedding fits
// v. (model.RandomConfig has no vocabulary; WriteGGUF writes m.Vocab.)
func tinyModelWithVocab(t *testing.T, v tokenizer.Vocab) *model.Model {
	t.Helper()
	m, _, err := model.RandomModel(model.RandomConfig{Arch: model.Llama, Vocab: len(v.Tokens), Hidden: 32, FFN: 64,
		Layers: 1, Heads: 4, KVHeads: 2, Context: 256, Type: tensor.F32, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	m.Vocab = &v
	return m
}
