package model

import (
	"testing"

	"webpeft/engine/tensor"
)

// TestFullGradients holds the reference's gradients of every weight of a
// llama model (full-parameter training), untied and tied, to central
// finite differences of PEFTLoss.
func TestFullGradients(t *testing.T) {
	for _, tied := range []bool{false, true} {
		c := RandomConfig{Arch: Llama, Vocab: 64, Hidden: 32, FFN: 64, Layers: 2, Heads: 4, KVHeads: 2,
			Context: 64, Type: tensor.F32, Seed: 5, Tied: tied}
		m, _, err := RandomModel(c)
		if err != nil {
			t.Fatal(err)
		}
		r, err := LoadReference(m)
		if err != nil {
			t.Fatal(err)
		}
		set, err := FullSet(m.Spec)
		if err != nil {
			t.Fatal(err)
		}
		p32, err := FullParamsOf(m, set)
		if err != nil {
			t.Fatal(err)
		}
		params := make([]float64, len(p32))
		for i, v := range p32 {
			params[i] = float64(v)
		}
		frac, abs := checkPEFTGradients(t, r, set, params, peftBatch(c.Vocab))
		t.Logf("tied %v: %d tensors; worst |fd - grad|: %.3g; worst as a fraction of its tolerance: %.3g", tied, len(set.Tensors), abs, frac)
	}
}

// TestFullRefuses: only F32 llama models train in full.
func TestFullRefuses(t *testing.T) {
	for _, c := range []RandomConfig{tinyConfig(GPT2, tensor.F32), tinyConfig(Llama, tensor.Q8_0)} {
		m, _, err := RandomModel(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FullSet(m.Spec); err == nil {
			t.Errorf("%s %v: FullSet accepted it", c.Arch, c.Type)
		} else {
			t.Logf("%s %v: %v", c.Arch, c.Type, err)
		}
	}
}
