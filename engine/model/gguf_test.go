package model

import (
	"os"
	"testing"

	"webpeft/engine/format/gguf"
)

func openGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromGGUFTinyModels(t *testing.T) {
	cases := []struct {
		file    string
		arch    Arch
		rope    RopeStyle
		norm    Norm
		kvHeads int
		tied    bool
		bias    bool
	}{
		{"tiny-llama-q4_k_m.gguf", Llama, RopeInterleaved, RMSNorm, 2, false, false},
		{"tiny-qwen2-f32.gguf", Qwen2, RopeHalf, RMSNorm, 2, false, true},
		{"tiny-gpt2-f32.gguf", GPT2, RopeNone, LayerNorm, 4, false, false},
	}
	for _, c := range cases {
		s, err := FromGGUF(openGGUF(t, "../../testdata/models/"+c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if s.Arch != c.arch || s.Vocab != 512 || s.Hidden != 256 || s.Layers != 2 || s.Heads != 4 ||
			s.KVHeads != c.kvHeads || s.HeadDim != 64 || s.FFN != 512 || s.Rope != c.rope || s.Norm != c.norm ||
			s.TiedEmbeddings != c.tied || s.QKVBias != c.bias || s.NormEps < 9.99e-6 || s.NormEps > 1.001e-5 {
			t.Errorf("%s: spec %+v", c.file, *s)
		}
		q, ok := s.Tensor("blk.0.ffn_down.weight")
		if !ok || q.Shape[0] != 256 || q.Shape[1] != 512 {
			t.Errorf("%s: ffn_down %+v, want shape (256, 512)", c.file, q)
		}
	}
}
