package model

import (
	"bytes"
	"math"
	"testing"

	"webpeft/engine/tensor"
)

func openModel(t *testing.T, path string) *Model {
	t.Helper()
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func convertToMemory(t *testing.T, m *Model, typ tensor.Type) *Model {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, m, typ); err != nil {
		t.Fatal(err)
	}
	back, err := OpenGGUF(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// sameWeights checks that every tensor of a decodes to exactly what the
// same-named tensor of b does.
func sameWeights(t *testing.T, what string, a, b *Model) {
	t.Helper()
	if len(a.Spec.Tensors) != len(b.Spec.Tensors) {
		t.Fatalf("%s: %d tensors vs %d", what, len(a.Spec.Tensors), len(b.Spec.Tensors))
	}
	for _, ta := range a.Spec.Tensors {
		tb, ok := b.Spec.Tensor(ta.Name)
		if !ok {
			t.Fatalf("%s: %s missing", what, ta.Name)
		}
		x, err := a.ReadF32(ta.Name, 0, ta.Rows())
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.ReadF32(tb.Name, 0, tb.Rows())
		if err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Fatalf("%s: %s[%d] = %v vs %v", what, ta.Name, i, x[i], y[i])
			}
		}
	}
}

func sameHyper(t *testing.T, what string, a, b *Spec) {
	t.Helper()
	if a.Arch != b.Arch || a.Vocab != b.Vocab || a.Hidden != b.Hidden || a.FFN != b.FFN || a.Layers != b.Layers ||
		a.Heads != b.Heads || a.KVHeads != b.KVHeads || a.HeadDim != b.HeadDim || a.Context != b.Context ||
		a.Norm != b.Norm || float32(a.NormEps) != float32(b.NormEps) || a.RopeTheta != b.RopeTheta ||
		a.TiedEmbeddings != b.TiedEmbeddings || a.QKVBias != b.QKVBias {
		t.Errorf("%s: specs differ:\n%+v\n%+v", what, *a, *b)
	}
}

var tinyModels = []string{"tiny-llama-f32", "tiny-llama-q8_0", "tiny-llama-q4_k_m", "tiny-qwen2-f32", "tiny-gpt2-q8_0"}

// TestConvertGGUFRoundTrip: a GGUF written by WriteGGUF (webpeft convert)
// in F32 reads back with the same spec, vocabulary and decoded weights.
func TestConvertGGUFRoundTrip(t *testing.T) {
	for _, name := range tinyModels {
		m := openModel(t, "../../testdata/models/"+name+".gguf")
		back := convertToMemory(t, m, tensor.F32)
		sameHyper(t, name, m.Spec, back.Spec)
		if back.Spec.Rope != m.Spec.Rope {
			t.Errorf("%s: rope %v became %v", name, m.Spec.Rope, back.Spec.Rope)
		}
		sameWeights(t, name, m, back)
		if len(back.Vocab.Tokens) != len(m.Vocab.Tokens) || back.Vocab.Model != m.Vocab.Model {
			t.Errorf("%s: vocabulary changed", name)
		}
	}
}

// TestConvertQuantized: --type q8_0 / q4_0 store 2-D weights in that type,
// each row exactly as tensor.EncodeRows quantizes it.
func TestConvertQuantized(t *testing.T) {
	m := openModel(t, "../../testdata/models/tiny-llama-f32.gguf")
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0, tensor.F16} {
		back := convertToMemory(t, m, typ)
		for _, tt := range back.Spec.Tensors {
			want := typ.String()
			if len(tt.Shape) < 2 {
				want = "F32"
			}
			if tt.Type != want {
				t.Errorf("%s: %s stored as %s, want %s", typ, tt.Name, tt.Type, want)
			}
		}
		orig, _ := m.ReadF32("blk.0.ffn_up.weight", 0, 512)
		raw := make([]byte, 512*mustRowBytes(t, typ, 256))
		if err := tensor.EncodeRows(typ, raw, orig); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(orig))
		if err := tensor.DecodeRows(typ, want, raw); err != nil {
			t.Fatal(err)
		}
		got, _ := back.ReadF32("blk.0.ffn_up.weight", 0, 512)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: ffn_up[%d] = %v, want %v", typ, i, got[i], want[i])
			}
		}
	}
}

func mustRowBytes(t *testing.T, typ tensor.Type, n int) int {
	t.Helper()
	b, err := typ.RowBytes(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHFFolderRoundTrip: a GGUF model written as a Hugging Face folder
// (WriteHF: transformers names, Q/K un-permuted, Conv1D transposed) reads
// back as the same model, and converting that folder to GGUF restores the
// original tensors bit for bit — the permutation is undone and redone.
func TestHFFolderRoundTrip(t *testing.T) {
	for _, name := range []string{"tiny-llama-f32", "tiny-qwen2-f32", "tiny-gpt2-f32"} {
		m := openModel(t, "../../testdata/models/"+name+".gguf")
		dir := t.TempDir()
		if err := WriteHF(dir, m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := openModel(t, dir)
		sameHyper(t, name+" as HF", m.Spec, h.Spec)
		if m.Spec.Arch != GPT2 && h.Spec.Rope != RopeHalf {
			t.Errorf("%s: HF rope is %v, want half rotation", name, h.Spec.Rope)
		}
		back := convertToMemory(t, h, tensor.F32)
		sameHyper(t, name+" HF->GGUF", m.Spec, back.Spec)
		if back.Spec.Rope != m.Spec.Rope {
			t.Errorf("%s: HF->GGUF rope %v, want %v", name, back.Spec.Rope, m.Spec.Rope)
		}
		sameWeights(t, name+" HF->GGUF", m, back)
		tokenizersAgree(t, name, m, h)
	}
}
