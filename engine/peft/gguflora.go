package peft

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"webpeft/engine/format/gguf"
	"webpeft/engine/tensor"
)

// llama.cpp GGUF LoRA adapters, as llama.cpp's convert_lora_to_gguf.py
// writes them and src/llama-adapter.cpp (llama_adapter_lora_init_impl)
// loads them:
//
//   - general.architecture is the base model's (the loader refuses a
//     mismatch), general.type "adapter", adapter.type "lora",
//     adapter.lora.alpha a float32 (absent: 0);
//   - each adapted weight W named N (a base tensor name, e.g.
//     blk.0.attn_q.weight) has N.lora_a with ggml shape [in, r] and
//     N.lora_b with [r, out]: the loader checks W.ne[0] == a.ne[0],
//     W.ne[1] == b.ne[1] and a.ne[1] == b.ne[0]. ggml lists the fastest
//     dimension first, so these are PEFT's (r, in) and (out, r) row-major
//     bytes unchanged;
//   - the output adds scale * B A x with scale = alpha / r (r = b.ne[0]),
//     or 1 when alpha is 0 (llama-adapter.h get_scale) — no rsLoRA, so an
//     rsLoRA adapter is written with the alpha that gives its scale;
//   - the tensors follow the GGUF model's: for llama the Q/K rows are in
//     the permuted order llama.cpp's converter gives llama weights (the
//     converter pushes that permutation through lora_B), qwen2 and gpt2
//     keep Hugging Face's; gpt2's fused projection is attn_qkv.
//
// llama.cpp has no adapter format for IA3, prompt or prefix tuning or
// bottleneck adapters.

// ggufModules are the base tensor names of each module ("qkv": gpt2's
// fused attn_qkv), as llama.cpp's llama-arch.cpp names them.
var ggufModules = map[string]string{"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
	"gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down", "qkv": "attn_qkv"}

func ggufBase(l int, m string) string { return fmt.Sprintf("blk.%d.%s.weight", l, ggufModules[m]) }

// ggufPermuted reports whether a GGUF file of arch holds Q/K rows in
// llama.cpp's permuted order.
func ggufPermuted(arch string) bool { return arch == "llama" }

// ExportGGUF writes set's LoRA as a llama.cpp GGUF LoRA adapter (F32).
// params are in the Q/K row order of the model info describes. Any other method
// is refused: llama.cpp has no format for it.
func ExportGGUF(w io.Writer, set *Set, params []float32, info ModelInfo) error {
	c, err := exportMethod(set, params, info)
	if err != nil {
		return err
	}
	switch c.Method {
	case LoRA:
	case Adapter:
		return fmt.Errorf("peft: llama.cpp has no adapter format for bottleneck adapters (GGUF adapters are LoRA only); they stay in webpeft's native format")
	default:
		return fmt.Errorf("peft: llama.cpp has no adapter format for %s (GGUF adapters are LoRA only); export it with --format peft, or keep the native folder", c.Method)
	}
	if info.PermutedQK != ggufPermuted(info.Arch) {
		if params, err = set.Reorder(params, info.Heads, info.KVHeads, ggufPermuted(info.Arch)); err != nil {
			return err
		}
	}
	pairs, R := loraExportPairs(set, params, info.Arch)
	b := gguf.NewBuilder()
	for _, kv := range []struct {
		key string
		val any
	}{{"general.architecture", info.Arch}, {"general.type", "adapter"}, {"general.name", info.Name},
		{"adapter.type", "lora"}, {"adapter.lora.alpha", float32(exportAlpha(c, R, false))}} {
		if err := b.AddKV(kv.key, kv.val); err != nil {
			return err
		}
	}
	for _, p := range pairs {
		base := ggufBase(p.layer, p.module)
		if err := addF32(b, base+".lora_a", p.a, p.in, R); err != nil {
			return err
		}
		if err := addF32(b, base+".lora_b", p.b, R, p.out); err != nil {
			return err
		}
	}
	_, err = b.WriteTo(w)
	return err
}

// addF32 adds x as an F32 tensor of ggml shape [ne0, ne1].
func addF32(b *gguf.Builder, name string, x []float32, ne0, ne1 int) error {
	raw := make([]byte, 4*len(x))
	if err := tensor.EncodeRows(tensor.F32, raw, x); err != nil {
		return err
	}
	return b.AddTensor(name, tensor.F32, []uint64{uint64(ne0), uint64(ne1)}, raw)
}

// ImportGGUF reads a llama.cpp GGUF LoRA adapter into a LoRA set and
// flat parameters for the model with dims d described by base. An
// adapter that does not fit the model is refused, naming the tensor.
func ImportGGUF(r io.ReaderAt, size int64, d Dims, base ModelInfo) (*Set, []float32, error) {
	if err := base.Check(d); err != nil {
		return nil, nil, err
	}
	f, err := gguf.Open(r, size)
	if err != nil {
		return nil, nil, err
	}
	if err := checkGGUFAdapter(f, base); err != nil {
		return nil, nil, err
	}
	alpha, _ := f.Float("adapter.lora.alpha")
	alpha = tidyF32(alpha)
	if err := checkGGUFNames(f, d, base); err != nil {
		return nil, nil, err
	}
	var pairs []loraPair
	for l := 0; l < d.Layers; l++ {
		for _, m := range hfLoRAModules(d, base.Arch) {
			p, ok, err := readGGUFPair(f, d, base, l, m, alpha)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			if m == "qkv" {
				pairs = append(pairs, splitQKV(d, p)...)
			} else {
				pairs = append(pairs, p)
			}
		}
	}
	set, params, err := assembleLoRA(d, pairs, 0, false)
	if err != nil {
		return nil, nil, err
	}
	if base.PermutedQK {
		params, err = set.Reorder(params, base.Heads, base.KVHeads, true)
	}
	return set, params, err
}

// checkGGUFAdapter checks the keys llama.cpp's loader checks.
func checkGGUFAdapter(f *gguf.File, base ModelInfo) error {
	if t, _ := f.String("general.type"); t != "adapter" {
		return fmt.Errorf("peft: the GGUF file is not an adapter (general.type %q, want \"adapter\")", t)
	}
	if t, _ := f.String("adapter.type"); t != "lora" {
		return fmt.Errorf("peft: adapter.type %q: webpeft reads GGUF LoRA adapters (\"lora\")", t)
	}
	if a, _ := f.String("general.architecture"); a != base.Arch {
		return fmt.Errorf("peft: the adapter's general.architecture is %q; the base model (%s) is %s", a, base.Name, base.Arch)
	}
	return nil
}

// checkGGUFNames refuses any tensor that is not the lora_a or lora_b of a
// weight the base model has.
func checkGGUFNames(f *gguf.File, d Dims, base ModelInfo) error {
	known := map[string]bool{}
	for l := 0; l < d.Layers; l++ {
		for _, m := range hfLoRAModules(d, base.Arch) {
			known[ggufBase(l, m)] = true
		}
	}
	for _, t := range f.Tensors {
		w, ok := strings.CutSuffix(t.Name, ".lora_a")
		if !ok {
			w, ok = strings.CutSuffix(t.Name, ".lora_b")
		}
		if !ok || !known[w] {
			return fmt.Errorf("peft: GGUF adapter tensor %s does not fit the %s base model (%s, %d layers): webpeft applies lora_a/lora_b pairs to its attention and feed-forward weights only", t.Name, base.Arch, base.Name, d.Layers)
		}
	}
	return nil
}

// readGGUFPair reads layer l's module m, if the file adapts it, in
// Hugging Face row order, with llama.cpp's scale.
func readGGUFPair(f *gguf.File, d Dims, base ModelInfo, l int, m string, alpha float64) (loraPair, bool, error) {
	w := ggufBase(l, m)
	ta, okA := f.Tensor(w + ".lora_a")
	tb, okB := f.Tensor(w + ".lora_b")
	switch {
	case !okA && !okB:
		return loraPair{}, false, nil
	case !okA:
		return loraPair{}, false, fmt.Errorf("peft: GGUF adapter has %s.lora_b without %s.lora_a", w, w)
	case !okB:
		return loraPair{}, false, fmt.Errorf("peft: GGUF adapter has %s.lora_a without %s.lora_b", w, w)
	}
	in, out := hfInOut(d, m)
	if len(ta.Shape) != 2 || len(tb.Shape) != 2 || ta.Shape[0] != uint64(in) || tb.Shape[1] != uint64(out) || ta.Shape[1] != tb.Shape[0] || ta.Shape[1] == 0 {
		return loraPair{}, false, fmt.Errorf("peft: GGUF adapter tensors %s.lora_a %v and .lora_b %v do not fit the base's %s (want [%d r] and [r %d])", w, ta.Shape, tb.Shape, w, in, out)
	}
	r := int(ta.Shape[1])
	a, err := f.ReadF32(ta, 0, int(ta.Rows()))
	if err != nil {
		return loraPair{}, false, err
	}
	b, err := f.ReadF32(tb, 0, int(tb.Rows()))
	if err != nil {
		return loraPair{}, false, err
	}
	if ggufPermuted(base.Arch) && (m == "q" || m == "k") {
		heads := map[string]int{"q": base.Heads, "k": base.KVHeads}[m]
		permuteHeads(b, heads, r, false)
	}
	scale := 1.0
	if alpha != 0 {
		scale = alpha / float64(r)
	}
	return loraPair{layer: l, module: m, rank: r, a: a, b: b, scale: scale}, true, nil
}

// tidyF32 is the shortest decimal that reads back as the float32 x, so
// that an alpha of 0.1 stored as float32 imports as 0.1.
func tidyF32(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
	return v
}
