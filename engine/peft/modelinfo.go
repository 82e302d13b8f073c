package peft

import (
	"fmt"
	"strings"
)

// ModelInfo is what an adapter file records about the base model it was
// trained on, beyond Dims: enough to export the adapter to Hugging Face
// PEFT or llama.cpp without opening the model. engine/model's PEFTInfo
// builds it from a model's Spec.
type ModelInfo struct {
	Arch    string `json:"architecture"` // llama, qwen2 or gpt2 (GGUF's general.architecture)
	Name    string `json:"name"`         // the base model's name, as its file gives it
	Hidden  int    `json:"hidden"`
	Layers  int    `json:"layers"`
	Heads   int    `json:"heads"`
	KVHeads int    `json:"kv_heads"`
	HeadDim int    `json:"head_dim"`
	// PermutedQK: the model's Q/K rows are in the order llama.cpp's
	// converter writes for llama GGUF files (interleaved RoPE), not
	// Hugging Face's. Trained parameters that follow those rows (LoRA B
	// rows of q and k, IA3's k vector, prefix keys) are in that order too.
	PermutedQK bool `json:"permuted_qk"`
}

// Check refuses info that does not describe a model with dims d.
func (m ModelInfo) Check(d Dims) error {
	switch {
	case m.Arch != "llama" && m.Arch != "qwen2" && m.Arch != "gpt2":
		return fmt.Errorf("peft: architecture %q: want llama, qwen2 or gpt2", m.Arch)
	case m.Hidden != d.Hidden || m.Layers != d.Layers:
		return fmt.Errorf("peft: model info says hidden %d and %d layers, the adapter has %d and %d", m.Hidden, m.Layers, d.Hidden, d.Layers)
	case m.Heads*m.HeadDim != d.Q || m.KVHeads*m.HeadDim != d.KV:
		return fmt.Errorf("peft: model info says %d heads and %d KV heads of %d, the adapter has Q %d and KV %d", m.Heads, m.KVHeads, m.HeadDim, d.Q, d.KV)
	case m.PermutedQK && (m.Arch != "llama" || m.HeadDim%2 != 0):
		return fmt.Errorf("peft: Q/K rows can be permuted only in a llama model with an even head dim")
	}
	return nil
}

// Fits refuses an adapter made for info when it is applied to a model
// described by base: architecture and shapes must agree (the Q/K row
// order may differ; Reorder converts).
func (m ModelInfo) Fits(base ModelInfo) error {
	if m.Arch != base.Arch {
		return fmt.Errorf("peft: the adapter was made for a %s model (%s), the base is %s (%s)", m.Arch, m.Name, base.Arch, base.Name)
	}
	a := [5]int{m.Hidden, m.Layers, m.Heads, m.KVHeads, m.HeadDim}
	b := [5]int{base.Hidden, base.Layers, base.Heads, base.KVHeads, base.HeadDim}
	if a != b {
		return fmt.Errorf("peft: the adapter was made for %s (hidden, layers, heads, KV heads, head dim %v), the base %s has %v", m.Name, a, base.Name, b)
	}
	return nil
}

// Reorder returns params (of s) with everything that follows the Q/K
// rows moved from the order of a model with permuted Q/K rows to
// Hugging Face's (toPermuted false) or back (true): LoRA B rows of q and
// k, IA3's k vector, prefix keys (per KV head) and, with prefix
// projection, the rows of the encoder's output layer that make keys.
// Moving values changes no arithmetic, so a model in either order
// computes bit-identical results with its parameters. heads and kvHeads
// are the model's; nothing else moves (V is never permuted, so o's input
// and the prefix values keep their order).
func (s *Set) Reorder(params []float32, heads, kvHeads int, toPermuted bool) ([]float32, error) {
	if len(params) != s.Size {
		return nil, fmt.Errorf("peft: %d parameters for a set of %d", len(params), s.Size)
	}
	if heads <= 0 || kvHeads <= 0 || s.Dims.Q%heads != 0 || s.Dims.KV%kvHeads != 0 || (s.Dims.KV/kvHeads)%2 != 0 {
		return nil, fmt.Errorf("peft: cannot reorder Q/K rows of %d/%d heads for Q %d, KV %d", heads, kvHeads, s.Dims.Q, s.Dims.KV)
	}
	out := append([]float32(nil), params...)
	for _, t := range s.Tensors {
		v := out[t.Off : t.Off+t.Len]
		switch {
		case strings.HasSuffix(t.Name, ".lora_q.b"):
			permuteHeads(v, heads, t.Shape[1], toPermuted)
		case strings.HasSuffix(t.Name, ".lora_k.b"):
			permuteHeads(v, kvHeads, t.Shape[1], toPermuted)
		case strings.HasSuffix(t.Name, ".ia3.k"):
			permuteHeads(v, kvHeads, 1, toPermuted)
		case strings.HasSuffix(t.Name, ".prefix.k"):
			permuteEachRow(v, s.Dims.KV, kvHeads, toPermuted)
		case t.Name == "prefix.w2" || t.Name == "prefix.b2":
			rowLen := t.Len / t.Shape[0]
			for l := 0; l < s.Dims.Layers; l++ {
				keys := v[2*l*s.Dims.KV*rowLen : (2*l+1)*s.Dims.KV*rowLen]
				permuteHeads(keys, kvHeads, rowLen, toPermuted)
			}
		}
	}
	return out, nil
}

// permuteHeads reorders in place the rows (rowLen floats each) of x, a
// Q or K projection's output rows for heads heads, between Hugging Face's
// order and llama.cpp's permuted GGUF order, as model.PermuteQK does for
// weights: within a head of hs rows, Hugging Face row i*hs/2 + j is GGUF
// row 2j + i (i in {0, 1}, j < hs/2).
func permuteHeads(x []float32, heads, rowLen int, toPermuted bool) {
	src := append([]float32(nil), x...)
	hs := len(x) / rowLen / heads
	half := hs / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < 2; i++ {
			for j := 0; j < half; j++ {
				hf, gg := h*hs+i*half+j, h*hs+2*j+i
				from, to := hf, gg
				if !toPermuted {
					from, to = gg, hf
				}
				copy(x[to*rowLen:(to+1)*rowLen], src[from*rowLen:(from+1)*rowLen])
			}
		}
	}
}

// permuteEachRow permutes each width-long row of x as one head-split
// vector (a prefix key, a row of PEFT's prefix matrix).
func permuteEachRow(x []float32, width, heads int, toPermuted bool) {
	for r := 0; r+width <= len(x); r += width {
		permuteHeads(x[r:r+width], heads, 1, toPermuted)
	}
}
