//go:build !js

package model

import (
	"math/rand/v2"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/peft"
)

// TestDefaultModelLoRAGrads checks one LoRA training step on the shipped
// default model (Q8_0, every linear layer at rank 16, the demos' adapter)
// against the float64 reference: the loss and the gradient of every LoRA
// tensor. The demos' slow adapters on this model are the model's limit,
// not the training's, and this is the check that says so.
func TestDefaultModelLoRAGrads(t *testing.T) {
	d := gputest.Device(t)
	m, err := Open("../../site/models/webpeft-default-q8_0.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := peft.Config{Method: peft.LoRA, Rank: 16, Alpha: 32, Targets: peft.Modules}
	set, err := peft.NewSet(PEFTDims(m.Spec), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// B away from zero, so that every A gradient is non-zero too.
	params := set.Init(3)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range params {
		params[i] += float32(0.02 * (2*rng.Float64() - 1))
	}
	for _, T := range []int{16, 64} {
		fig, err := stepVsReference(d, m, set, params, LoadOptions{}, TrainOptions{}, 2, T, 1)
		t.Logf("T=%d: %s", T, fig)
		if err != nil {
			t.Errorf("T=%d: %v", T, err)
		}
	}
}
