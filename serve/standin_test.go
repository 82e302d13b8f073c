//go:build !js

package serve_test

import (
	"bytes"
	"os"
	"testing"

	"webpeft/engine/model"
	"webpeft/engine/tensor"
	"webpeft/engine/tokenizer"
)

// The stand-in is a test fixture: a small llama with seeded random weights
// (so its samples are gibberish) and a real tokenizer, GPT-2's byte-level
// BPE cut to its first standInVocab tokens, written by the project's own
// GGUF writer. The Hugging Face folder and download tests serve it (it was
// the app's default until the pre-trained webpeft-default replaced it).
// It lives in serve/testdata/standin.gguf.
//
// Rebuild it (from testdata/tokenizers/ggml-vocab-gpt-2.gguf) with
//
//	WEBPEFT_UPDATE_STANDIN=1 go test ./serve -run TestStandInModel
//
// Without the variable the test rebuilds it from the committed file's own
// vocabulary and checks that the bytes are identical.
const (
	standInPath  = "testdata/standin.gguf"
	standInVocab = 4096
	// StandInName is the general.name the app shows (with "stand-in").
	standInName = "webpeft stand-in (random weights)"
)

// standInConfig is the stand-in's shape: head dim 64 like SmolLM2,
// grouped-query attention, tied embeddings, Q8_0.
func standInConfig() model.RandomConfig {
	return model.RandomConfig{Arch: model.Llama, Vocab: standInVocab, Hidden: 128, FFN: 384, Layers: 2,
		Heads: 2, KVHeads: 1, Context: 512, Tied: true, Type: tensor.F32, Seed: 2025}
}

// cutGPT2 keeps GPT-2's first n-1 tokens (256 bytes and the tokens of its
// first n-257 merges: token 256+i is merge i) and its end-of-text token,
// renumbered n-1.
func cutGPT2(v *tokenizer.Vocab, n int) (*tokenizer.Vocab, error) {
	out := *v
	eos := v.Tokens[v.EOS]
	out.Tokens = append(append([]string(nil), v.Tokens[:n-1]...), eos)
	if len(v.Types) > 0 {
		out.Types = append(append([]int32(nil), v.Types[:n-1]...), v.Types[v.EOS])
	}
	out.Merges = append([]string(nil), v.Merges[:n-1-256]...)
	out.BOS, out.EOS = n-1, n-1
	_, err := tokenizer.New(out)
	return &out, err
}

// buildStandIn writes the stand-in model with vocabulary v.
func buildStandIn(v *tokenizer.Vocab) ([]byte, error) {
	_, f32, err := model.RandomModel(standInConfig())
	if err != nil {
		return nil, err
	}
	m, err := model.OpenGGUF(bytes.NewReader(f32), int64(len(f32)))
	if err != nil {
		return nil, err
	}
	m.Vocab = v
	m.Spec.Name = standInName
	var buf bytes.Buffer
	if err := model.WriteGGUF(&buf, m, tensor.Q8_0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestStandInModel(t *testing.T) {
	if os.Getenv("WEBPEFT_UPDATE_STANDIN") == "1" {
		full, err := model.OpenVocab("../testdata/tokenizers/ggml-vocab-gpt-2.gguf")
		if err != nil {
			t.Fatal(err)
		}
		v, err := cutGPT2(full, standInVocab)
		if err != nil {
			t.Fatal(err)
		}
		b, err := buildStandIn(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(standInPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d bytes", standInPath, len(b))
	}
	committed, err := os.ReadFile(standInPath)
	if err != nil {
		t.Fatalf("%v (rebuild it: WEBPEFT_UPDATE_STANDIN=1 go test ./serve -run TestStandInModel)", err)
	}
	if len(committed) > 2<<20 {
		t.Errorf("%s is %d bytes; keep the stand-in under 2 MiB", standInPath, len(committed))
	}
	m, err := model.OpenGGUF(bytes.NewReader(committed), int64(len(committed)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Vocab == nil || len(m.Vocab.Tokens) != standInVocab || m.Spec.Name != standInName {
		t.Fatalf("%s: unexpected model %q with %v", standInPath, m.Spec.Name, m.Vocab != nil)
	}
	again, err := buildStandIn(m.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, committed) {
		t.Fatalf("%s differs from what the generator writes; rebuild it with WEBPEFT_UPDATE_STANDIN=1", standInPath)
	}
	tok, err := tokenizer.New(*m.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("Hello world, this is the stand-in model.", tokenizer.EncodeOptions{})
	if got := tok.Decode(ids); got != "Hello world, this is the stand-in model." {
		t.Errorf("round trip: %q", got)
	}
	t.Logf("%s: %d bytes, %d tokens for a 40-character sentence", standInPath, len(committed), len(ids))
}
