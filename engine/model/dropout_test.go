//go:build !js

package model

import (
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// TestLoRADropout: with dropout 0.5 a training step's loss differs from
// the loss without dropout, validation (Loss) runs without dropout, and
// the same step replayed draws the same mask.
func TestLoRADropout(t *testing.T) {
	d := gputest.Device(t)
	cfg := tinyConfig(Llama, tensor.Q8_0)
	m, _, err := RandomModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	batch := tinyBatch(cfg.Vocab, 2, 7)
	loss := func(p float64) (train, val, again float64) {
		set, err := peft.NewSet(PEFTDims(m.Spec), peft.Config{Method: peft.LoRA, Dropout: p})
		if err != nil {
			t.Fatal(err)
		}
		params := set.Init(2)
		for i := range params {
			params[i] += 0.05 // B away from zero, so that dropout shows
		}
		tr, err := NewTrainer(g, set, TrainOptions{B: 2, T: 7})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Free()
		tr.SetParams(params)
		s1, err := tr.Step(batch, AdamWHyper{}, false)
		if err != nil {
			t.Fatal(err)
		}
		tr.micro = 0 // replay the same micro-batch's mask
		s2, _ := tr.Step(batch, AdamWHyper{}, false)
		v, err := tr.Loss(batch)
		if err != nil {
			t.Fatal(err)
		}
		return s1.Loss, v, s2.Loss
	}
	train0, val0, _ := loss(0)
	train5, val5, again5 := loss(0.5)
	t.Logf("no dropout: train %.6f val %.6f; dropout 0.5: train %.6f (replayed %.6f) val %.6f", train0, val0, train5, again5, val5)
	if train5 == train0 {
		t.Error("dropout 0.5 left the training loss unchanged")
	}
	if val5 != val0 || train0 != val0 {
		t.Errorf("validation with dropout configured gave %v, without %v (train without %v)", val5, val0, train0)
	}
	if again5 != train5 {
		t.Errorf("the same step drew another mask: %v then %v", train5, again5)
	}
}
