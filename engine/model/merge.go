package model

import (
	"fmt"
	"slices"

	"webpeft/engine/format/safetensors"
	"webpeft/engine/peft"
)

// Merge returns m with the LoRA and IA3 methods of set (params: its flat
// parameters) folded into the weights, as a model that reads like any
// other: the touched tensors turn F32 and decode to
//
//	LoRA:  W' = W + scale * B A               (rows of the module's output)
//	IA3:   W' = diag(l) W, b' = l * b         (keys, values; gpt2: q too)
//	       W'_down = W_down diag(l)           (the FFN down-projection input)
//
// LoRA is folded before IA3, as the forward pass applies them (IA3 scales
// a projection's output with its LoRA included, and the down projection's
// input that its LoRA also reads). The merged model is written with
// WriteGGUF or WriteHF; nothing is held in memory beyond the adapter.
// Prompt tuning, prefix tuning and bottleneck adapters add computation
// rather than change weights, so a set with them is refused.
func Merge(m *Model, set *peft.Set, params []float32) (*Model, error) {
	if want := PEFTDims(m.Spec); set.Dims != want {
		return nil, fmt.Errorf("model: merge: the adapter was made for a model with %+v, not %s (%+v)", set.Dims, m.Spec.Name, want)
	}
	if len(params) != set.Size {
		return nil, fmt.Errorf("model: merge: %d parameters for a set of %d", len(params), set.Size)
	}
	for _, c := range set.Configs {
		if c.Method != peft.LoRA && c.Method != peft.IA3 {
			return nil, fmt.Errorf("model: merge folds LoRA and IA3 into the weights; %s adds computation instead and cannot be merged (use it as an adapter)", c.Method)
		}
	}
	mods := mergeMods(m.Spec, set, params)
	spec := *m.Spec
	spec.Tensors = slices.Clone(m.Spec.Tensors)
	orig := map[string]*Tensor{}
	for i := range spec.Tensors {
		t := &spec.Tensors[i]
		orig[t.Name] = &m.Spec.Tensors[i]
		if len(mods[t.Name]) > 0 {
			t.Type = "F32"
		}
	}
	merged := *m
	merged.Spec, merged.closer = &spec, nil
	merged.read = func(t *Tensor, rowStart, rows int) ([]float32, error) {
		x, err := m.read(orig[t.Name], rowStart, rows)
		if err != nil {
			return nil, err
		}
		for _, mod := range mods[t.Name] {
			mod(x, rowStart, rows, t.RowLen())
		}
		return x, nil
	}
	merged.readRaw = func(t *Tensor, rowStart, rows int) ([]byte, error) {
		if len(mods[t.Name]) == 0 {
			return m.readRaw(orig[t.Name], rowStart, rows)
		}
		x, err := merged.read(t, rowStart, rows)
		if err != nil {
			return nil, err
		}
		return safetensors.EncodeF32(safetensors.F32, x)
	}
	return &merged, nil
}

// rowMod changes rows [rowStart, rowStart+rows) of a tensor, decoded in
// canonical layout (rowLen values a row) in x.
type rowMod func(x []float32, rowStart, rows, rowLen int)

// mergeMods lists, per canonical tensor, the changes of set's LoRA and
// then IA3 tensors.
func mergeMods(s *Spec, set *peft.Set, params []float32) map[string][]rowMod {
	mods := map[string][]rowMod{}
	at := func(name string) []float32 {
		t, ok := set.Tensor(name)
		if !ok {
			return nil
		}
		return params[t.Off : t.Off+t.Len]
	}
	if c, ok := set.Config(peft.LoRA); ok {
		for l := 0; l < s.Layers; l++ {
			for _, mod := range c.Targets {
				in, out := set.Dims.InOut(mod)
				name, off := moduleTensor(s, l, mod, "weight")
				A, B := at(loraName(l, mod, "a")), at(loraName(l, mod, "b"))
				mods[name] = append(mods[name], loraMod(A, B, c.Rank, in, off, out, c.Scale()))
			}
		}
	}
	if _, ok := set.Config(peft.IA3); ok {
		for l := 0; l < s.Layers; l++ {
			for _, which := range []string{"q", "k", "v"} {
				vec := at(fmt.Sprintf("blk.%d.ia3.%s", l, which))
				if vec == nil {
					continue
				}
				for _, kind := range []string{"weight", "bias"} {
					name, off := moduleTensor(s, l, which, kind)
					if _, ok := s.Tensor(name); ok {
						mods[name] = append(mods[name], scaleRowsMod(vec, off, kind == "bias"))
					}
				}
			}
			name, _ := moduleTensor(s, l, "down", "weight")
			mods[name] = append(mods[name], scaleColsMod(at(fmt.Sprintf("blk.%d.ia3.ffn", l))))
		}
	}
	return mods
}

// moduleTensor is the canonical tensor holding a PEFT module's weight or
// bias, and the module's first row in it (gpt2 fuses q, k and v into
// attn_qkv, rows q then k then v).
func moduleTensor(s *Spec, l int, module, kind string) (string, int) {
	blk := func(n string) string { return fmt.Sprintf("blk.%d.%s.%s", l, n, kind) }
	Q, KV := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	if s.Arch == GPT2 {
		switch module {
		case "q":
			return blk("attn_qkv"), 0
		case "k":
			return blk("attn_qkv"), Q
		case "v":
			return blk("attn_qkv"), Q + KV
		}
	}
	names := map[string]string{"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
		"gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}
	return blk(names[module]), 0
}

// loraMod adds scale * B A (B (out, r), A (r, in)) to rows off..off+out.
func loraMod(A, B []float32, r, in, off, out int, scale float64) rowMod {
	return func(x []float32, rowStart, rows, rowLen int) {
		for i := 0; i < rows; i++ {
			o := rowStart + i - off
			if o < 0 || o >= out {
				continue
			}
			row := x[i*rowLen : (i+1)*rowLen]
			for c := 0; c < in; c++ {
				var sum float64
				for k := 0; k < r; k++ {
					sum += float64(B[o*r+k]) * float64(A[k*in+c])
				}
				row[c] = float32(float64(row[c]) + scale*sum)
			}
		}
	}
}

// scaleRowsMod multiplies rows off..off+len(vec) by vec; for a bias (one
// row of all outputs) it multiplies elements instead.
func scaleRowsMod(vec []float32, off int, bias bool) rowMod {
	return func(x []float32, rowStart, rows, rowLen int) {
		if bias {
			for i, l := range vec {
				x[off+i] *= l
			}
			return
		}
		for i := 0; i < rows; i++ {
			o := rowStart + i - off
			if o < 0 || o >= len(vec) {
				continue
			}
			for c := range rowLen {
				x[i*rowLen+c] *= vec[o]
			}
		}
	}
}

// scaleColsMod multiplies every row's column c by vec[c].
func scaleColsMod(vec []float32) rowMod {
	return func(x []float32, _, rows, rowLen int) {
		for i := 0; i < rows; i++ {
			for c, l := range vec {
				x[i*rowLen+c] *= l
			}
		}
	}
}
