//go:build !js

package model

import (
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// TestStepOneSubmit checks that a training step, its loss included, is one
// queue submit and one readback, and an evaluation batch likewise: the
// loss comes home with the step's own command buffer. Neither allocates a
// buffer: every buffer a step shape needs (activations, gradients, Adam
// moments, uniforms, the loss's staging) is made once, in NewTrainer.
func TestStepOneSubmit(t *testing.T) {
	d := gputest.Device(t)
	m, _, err := RandomModel(tinyConfig(Llama, tensor.Q8_0))
	if err != nil {
		t.Fatal(err)
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	set, err := peft.NewSet(PEFTDims(g.Spec), peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 1, 16
	tr, err := NewTrainer(g, set, TrainOptions{B: B, T: T})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	b := Batch{Tokens: make([]int, B*T), Targets: make([]int, B*T)}
	for i := range b.Tokens {
		b.Tokens[i], b.Targets[i] = (7*i+3)%g.Spec.Vocab, (7*i+10)%g.Spec.Vocab
	}
	for _, update := range []bool{false, true} {
		before := d.Stats()
		st, err := tr.Step(b, ops.DefaultAdamWHyper, update)
		if err != nil {
			t.Fatal(err)
		}
		after := d.Stats()
		if subs, reads := after.Submits-before.Submits, after.Reads-before.Reads; subs != 1 || reads != 1 || !(st.Loss > 0) {
			t.Errorf("step (update %v): %d submits, %d readbacks, loss %v; want 1, 1, > 0", update, subs, reads, st.Loss)
		}
		if n := after.Allocs - before.Allocs; n != 0 {
			t.Errorf("step (update %v) allocated %d buffers, want 0", update, n)
		}
	}
	before := d.Stats()
	if _, err := tr.Loss(b); err != nil {
		t.Fatal(err)
	}
	after := d.Stats()
	if subs, allocs := after.Submits-before.Submits, after.Allocs-before.Allocs; subs != 1 || allocs != 0 {
		t.Errorf("an evaluation batch took %d submits and %d allocations, want 1 and 0", subs, allocs)
	}
}
