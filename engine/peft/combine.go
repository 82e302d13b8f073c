package peft

import (
	"fmt"
	"math"
	"slices"
)

// Weighted is one adapter of a combination: its set, its flat
// parameters, and its weight (1: as trained).
type Weighted struct {
	Set    *Set
	Params []float32
	Weight float64
}

// Combine makes one set that applies several adapters of the same model
// at once, so that adapters can be stacked or blended without touching
// the base model:
//
//   - LoRAs add up: their A matrices are stacked and their B matrices
//     placed side by side, each B multiplied by its adapter's weight and
//     scale (the combined LoRA has scale 1), which is exactly the sum of
//     weight * scale * B A. Modules only some adapters target get zero
//     blocks from the others.
//   - IA3 vectors multiply, each raised to its weight (l^0.5 is half way
//     to the identity, in the log domain).
//   - Prompt tuning, prefix tuning and bottleneck adapters add tokens or
//     layers, not weights: at most one of the adapters may have each, at
//     weight 1.
//
// A single adapter at weight 1 is returned as it is.
func Combine(ws ...Weighted) (*Set, []float32, error) {
	if len(ws) == 0 {
		return nil, nil, fmt.Errorf("peft: no adapter to combine")
	}
	if len(ws) == 1 && ws[0].Weight == 1 {
		return ws[0].Set, ws[0].Params, nil
	}
	dims := ws[0].Set.Dims
	for i, w := range ws {
		if w.Set.Dims != dims {
			return nil, nil, fmt.Errorf("peft: adapter %d was made for a model with %+v, adapter 1 for %+v", i+1, w.Set.Dims, dims)
		}
		if len(w.Params) != w.Set.Size {
			return nil, nil, fmt.Errorf("peft: adapter %d: %d parameters for a set of %d", i+1, len(w.Params), w.Set.Size)
		}
		if math.IsNaN(w.Weight) || math.IsInf(w.Weight, 0) {
			return nil, nil, fmt.Errorf("peft: adapter %d: weight %v", i+1, w.Weight)
		}
	}
	configs, err := combinedConfigs(ws)
	if err != nil {
		return nil, nil, err
	}
	set, err := NewSet(dims, configs...)
	if err != nil {
		return nil, nil, err
	}
	params := make([]float32, set.Size)
	combineLoRA(set, params, ws)
	combineIA3(set, params, ws)
	for _, w := range ws {
		copyMethod(set, params, w.Set, w.Params)
	}
	return set, params, nil
}

// combinedConfigs is one configuration per method: LoRA with the summed
// rank over the union of targets (scale 1), IA3, and the others as they
// are.
func combinedConfigs(ws []Weighted) ([]Config, error) {
	var out []Config
	lora := Config{Method: LoRA}
	ia3 := false
	seen := map[string]int{}
	for i, w := range ws {
		for _, c := range w.Set.Configs {
			switch c.Method {
			case LoRA:
				lora.Rank += c.Rank
				for _, t := range c.Targets {
					if !slices.Contains(lora.Targets, t) {
						lora.Targets = append(lora.Targets, t)
					}
				}
			case IA3:
				ia3 = true
			default:
				if j, ok := seen[c.Method]; ok {
					return nil, fmt.Errorf("peft: adapters %d and %d both have %s, which cannot be combined", j+1, i+1, c.Method)
				}
				if w.Weight != 1 {
					return nil, fmt.Errorf("peft: adapter %d has %s, which cannot be weighted (%v); use weight 1", i+1, c.Method, w.Weight)
				}
				seen[c.Method] = i
				out = append(out, c)
			}
		}
	}
	if lora.Rank > 0 {
		lora.Alpha = float64(lora.Rank) // scale alpha/r = 1: each B carries its own
		slices.SortFunc(lora.Targets, func(a, b string) int { return slices.Index(Modules, a) - slices.Index(Modules, b) })
		out = append(out, lora)
	}
	if ia3 {
		out = append(out, Config{Method: IA3})
	}
	return out, nil
}

// combineLoRA stacks the adapters' A rows and places their B columns side
// by side, B scaled by weight * scale.
func combineLoRA(set *Set, params []float32, ws []Weighted) {
	c, ok := set.Config(LoRA)
	if !ok {
		return
	}
	R := c.Rank
	r0 := 0
	for _, w := range ws {
		wc, ok := w.Set.Config(LoRA)
		if !ok {
			continue
		}
		r, k := wc.Rank, float32(w.Weight*wc.Scale())
		for l := 0; l < set.Dims.Layers; l++ {
			for _, m := range wc.Targets {
				in, out := set.Dims.InOut(m)
				name := func(part string) string { return fmt.Sprintf("blk.%d.lora_%s.%s", l, m, part) }
				srcA, dstA := tensorOf(w.Set, w.Params, name("a")), tensorOf(set, params, name("a"))
				copy(dstA[r0*in:(r0+r)*in], srcA)
				srcB, dstB := tensorOf(w.Set, w.Params, name("b")), tensorOf(set, params, name("b"))
				for o := 0; o < out; o++ {
					for j := 0; j < r; j++ {
						dstB[o*R+r0+j] = k * srcB[o*r+j]
					}
				}
			}
		}
		r0 += r
	}
}

// combineIA3 multiplies the adapters' vectors, each to its weight.
func combineIA3(set *Set, params []float32, ws []Weighted) {
	for _, t := range set.Tensors {
		if _, isIA3 := set.Config(IA3); !isIA3 || !isIA3Tensor(t.Name) {
			continue
		}
		dst := params[t.Off : t.Off+t.Len]
		for i := range dst {
			dst[i] = 1
		}
		for _, w := range ws {
			src := tensorOf(w.Set, w.Params, t.Name)
			if src == nil {
				continue
			}
			for i, v := range src {
				// sign(v) |v|^weight: a vector that flips a sign keeps
				// doing so at any weight instead of turning NaN.
				p := math.Pow(math.Abs(float64(v)), w.Weight)
				dst[i] *= float32(math.Copysign(p, float64(v)))
			}
		}
	}
}

func isIA3Tensor(name string) bool {
	var l int
	var which string
	n, _ := fmt.Sscanf(name, "blk.%d.ia3.%s", &l, &which)
	return n == 2
}

// copyMethod copies the tensors of src's prompt, prefix and adapter
// methods, which dst has under the same names and shapes.
func copyMethod(dst *Set, dstParams []float32, src *Set, srcParams []float32) {
	for _, t := range src.Tensors {
		if d := tensorOf(dst, dstParams, t.Name); d != nil && !isIA3Tensor(t.Name) && !isLoRATensor(t.Name) {
			copy(d, srcParams[t.Off:t.Off+t.Len])
		}
	}
}

func isLoRATensor(name string) bool {
	var l int
	var rest string
	n, _ := fmt.Sscanf(name, "blk.%d.lora_%s", &l, &rest)
	return n == 2
}

// tensorOf is the named tensor's values in params, or nil.
func tensorOf(s *Set, params []float32, name string) []float32 {
	t, ok := s.Tensor(name)
	if !ok {
		return nil
	}
	return params[t.Off : t.Off+t.Len]
}
