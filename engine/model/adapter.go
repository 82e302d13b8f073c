package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
)

// Adapter is a PEFT set with its parameters on the GPU, for inference
// programs (generation, evaluation, logits) to apply.
type Adapter struct {
	Set    *peft.Set
	params *gpu.Buffer
	view   map[string]*gpu.Buffer
}

// NewAdapter uploads params (set.Size floats) for set, which must have
// been made for g's model. Prefixes trained through PEFT's
// reparameterisation MLP are projected once, here (Set.InferenceForm).
func (g *GPU) NewAdapter(set *peft.Set, params []float32) (*Adapter, error) {
	if want := PEFTDims(g.Spec); set.Dims != want {
		return nil, fmt.Errorf("model: the adapter was made for a model with %+v, not %s (%+v)", set.Dims, g.Spec.Name, want)
	}
	if len(params) != set.Size {
		return nil, fmt.Errorf("model: %d adapter parameters for a set of %d", len(params), set.Size)
	}
	set, params, err := set.InferenceForm(params)
	if err != nil {
		return nil, err
	}
	b, err := g.d.NewBuffer("adapter", 4*uint64(set.Size))
	if err != nil {
		return nil, err
	}
	a := &Adapter{Set: set, params: b, view: map[string]*gpu.Buffer{}}
	if err := b.UploadF32(0, params); err != nil {
		b.Free()
		return nil, err
	}
	for _, t := range set.Tensors {
		if a.view[t.Name], err = b.View(t.Name, 4*uint64(t.Off), 4*uint64(t.Len)); err != nil {
			b.Free()
			return nil, err
		}
	}
	return a, nil
}

// Free releases the adapter's parameters.
func (a *Adapter) Free() {
	if a != nil {
		a.params.Free()
	}
}

// virtual and prefix are the rows the adapter puts in front of a
// sequence: prompt-tuning rows (in the first run) and prefix slots (in
// the cache, before everything).
func (a *Adapter) virtual() int {
	if a == nil {
		return 0
	}
	return a.Set.VirtualTokens()
}

func (a *Adapter) prefix() int {
	if a == nil {
		return 0
	}
	return a.Set.PrefixTokens()
}

func (a *Adapter) lora(l int, m string) (A, B *gpu.Buffer, c peft.Config, ok bool) {
	if a == nil {
		return nil, nil, c, false
	}
	c, ok = a.Set.Config(peft.LoRA)
	if !ok {
		return nil, nil, c, false
	}
	A, ok = a.view[loraName(l, m, "a")]
	return A, a.view[loraName(l, m, "b")], c, ok
}

func (a *Adapter) ia3(l int, which string) *gpu.Buffer {
	if a == nil {
		return nil
	}
	return a.view[fmt.Sprintf("blk.%d.ia3.%s", l, which)]
}

func (a *Adapter) tensor(name string) *gpu.Buffer {
	if a == nil {
		return nil
	}
	return a.view[name]
}
