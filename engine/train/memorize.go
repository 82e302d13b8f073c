package train

import (
	"context"
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// DefaultLR is a peak learning rate per method that trains out of the box.
func DefaultLR(method string) float64 {
	switch method {
	case peft.Prompt:
		return 3e-2
	case peft.Prefix, peft.IA3:
		return 1e-2
	}
	return 1e-3 // LoRA, adapters
}

// MemorizationSet is 8 seeded "sentences" of 16 token ids below V: the
// data of the convergence checks, on models whose vocabularies have no
// words.
func MemorizationSet(V int) []Example {
	ex := make([]Example, 8)
	for i := range ex {
		e := Example{Tokens: make([]int, 17), Loss: make([]bool, 17)}
		for j := range e.Tokens {
			e.Tokens[j] = (i*97 + j*31 + (i*j)%7 + 5) % V
			e.Loss[j] = true
		}
		ex[i] = e
	}
	return ex
}

// Curve trains method (with its defaults: peft.Defaults and DefaultLR,
// constant learning rate, clipping at 1) on the memorisation set, all 8
// sentences in each step, and returns the loss of every step.
func Curve(d *gpu.Device, m *model.Model, method string, steps int) ([]float64, error) {
	return CurveProgress(d, m, method, steps, nil)
}

// CurveProgress is Curve reporting each step's loss to onStep (may be
// nil): on a slow adapter the browser test hears from the engine every
// step rather than once per method.
func CurveProgress(d *gpu.Device, m *model.Model, method string, steps int, onStep func(step int, loss float64)) ([]float64, error) {
	g, err := model.LoadGPU(d, m, model.LoadOptions{})
	if err != nil {
		return nil, err
	}
	defer g.Free()
	set, err := peft.NewSet(model.PEFTDims(m.Spec), peft.Defaults(method))
	if err != nil {
		return nil, err
	}
	ex := MemorizationSet(m.Spec.Vocab)
	tr, err := model.NewTrainer(g, set, model.TrainOptions{B: len(ex), T: 16, MaxGradNorm: 1})
	if err != nil {
		return nil, err
	}
	defer tr.Free()
	if err := tr.SetParams(set.Init(1)); err != nil {
		return nil, err
	}
	data, err := NewBatcher(ex, len(ex), 16, 1)
	if err != nil {
		return nil, err
	}
	var losses []float64
	opt := Options{Steps: steps, Schedule: Schedule{Kind: "constant", LR: DefaultLR(method), Steps: steps}}
	_, err = Run(context.Background(), tr, data, nil, opt, nil, nil, func(p Progress) {
		losses = append(losses, p.Loss)
		if onStep != nil {
			onStep(p.Step, p.Loss)
		}
	})
	if err != nil {
		return losses, fmt.Errorf("train: %s: %w", method, err)
	}
	return losses, nil
}

// CurveSteps is the length of the loss curve the browser test compares
// with the native one.
const CurveSteps = 20

// CurveModel is the model of that comparison: the tiny random llama of
// the whole-model checks in Q8_0, written by the project's GGUF writer, so
// the browser needs no file.
func CurveModel() (*model.Model, error) {
	m, _, err := model.RandomModel(model.TinyConfig(model.Llama, tensor.Q8_0))
	return m, err
}
