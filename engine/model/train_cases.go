package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// TrainCases lists the training checks: GPU loss and gradients of every
// PEFT method against the float64 CPU reference on tiny random models of
// each architecture. report receives each case's figures.
func TrainCases(report func(name, figures string)) []ops.Case {
	if report == nil {
		report = func(string, string) {}
	}
	groups := map[string][]peft.Config{
		"lora-ia3-houlsby": {
			{Method: peft.LoRA, Rank: 4, Alpha: 8},
			{Method: peft.IA3},
			{Method: peft.Adapter, Bottleneck: 4, AdapterType: "houlsby", AdapterAct: "gelu"},
		},
		"prompt-prefix-pfeiffer": {
			{Method: peft.Prompt, VirtualTokens: 3},
			{Method: peft.Prefix, VirtualTokens: 2},
			{Method: peft.Adapter, Bottleneck: 4},
		},
	}
	var cases []ops.Case
	cases = append(cases, ops.Case{Name: "train/llama-lora-dropout-path", Run: func(d *gpu.Device) error {
		// A drop probability of 1e-9 keeps every element (scale 1 in f32):
		// the dropout path's buffers and products must give the
		// reference's gradients.
		cfg := tinyConfig(Llama, tensor.Q8_0)
		fig, err := CheckTrainGrads(d, cfg, []peft.Config{{Method: peft.LoRA, Rank: 4, Alpha: 8, Dropout: 1e-9,
			Targets: peft.AllModules(PEFTDims(cfg.Spec()))}}, 2, 7)
		report("train/llama-lora-dropout-path", fig)
		return err
	}})
	for _, recompute := range []string{"off", "on"} {
		// Full-parameter training (pre-training the default model): every
		// weight's gradient, with and without recomputation; the second
		// with a tied LM head (its gradient and the embedding's add up).
		name := "train/llama-full-recompute-" + recompute
		cfg := tinyConfig(Llama, tensor.F32)
		if cfg.Tied = recompute == "on"; cfg.Tied {
			name += "-tied"
		}
		cases = append(cases, ops.Case{Name: name, Run: func(d *gpu.Device) error {
			fig, err := CheckFullGrads(d, cfg, 2, 7, recompute)
			report(name, fig)
			return err
		}})
	}
	for _, arch := range []Arch{Llama, GPT2} {
		// PEFT's prefix_projection: the prefixes of every layer come out of
		// one MLP, so its gradients sum the layers' (kept in blocks that the
		// backward pass writes afresh: two accumulated micro-steps check
		// that they are not summed twice).
		name := fmt.Sprintf("train/%s-prefix-projection", arch)
		cfg := tinyConfig(arch, tensor.Q8_0)
		configs := []peft.Config{{Method: peft.Prefix, VirtualTokens: 3, PrefixProjection: true, EncoderHidden: 24}}
		cases = append(cases, ops.Case{Name: name, Run: func(d *gpu.Device) error {
			fig, err := checkTrainGrads(d, cfg, configs, 2, 7, 2)
			report(name, fig)
			return err
		}})
	}
	for _, arch := range Archs {
		for _, gname := range []string{"lora-ia3-houlsby", "prompt-prefix-pfeiffer"} {
			name := fmt.Sprintf("train/%s-%s", arch, gname)
			cfg := tinyConfig(arch, tensor.Q8_0)
			if arch == Llama {
				cfg.Type = tensor.Q4_K
			}
			configs := append([]peft.Config(nil), groups[gname]...)
			if configs[0].Method == peft.LoRA {
				configs[0].Targets = peft.AllModules(PEFTDims(cfg.Spec()))
			}
			cases = append(cases, ops.Case{Name: name, Run: func(d *gpu.Device) error {
				fig, err := CheckTrainGrads(d, cfg, configs, 2, 7)
				report(name, fig)
				return err
			}})
		}
	}
	return cases
}

// gradTol: GPU f32 gradients against the float64 reference, per tensor,
// relative to the tensor's largest reference gradient.
const gradTol = 1e-3

// CheckTrainGrads compares one training step's loss and PEFT gradients
// (parameters perturbed away from their identity initialisation so that
// every gradient is non-zero) with PEFTLoss on the reference.
func CheckTrainGrads(d *gpu.Device, cfg RandomConfig, configs []peft.Config, B, T int) (string, error) {
	return checkTrainGrads(d, cfg, configs, B, T, 1)
}

// checkTrainGrads is CheckTrainGrads over micro accumulated steps on the
// same batch (gradients micro times the reference's).
func checkTrainGrads(d *gpu.Device, cfg RandomConfig, configs []peft.Config, B, T, micro int) (string, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return "", err
	}
	set, err := peft.NewSet(PEFTDims(m.Spec), configs...)
	if err != nil {
		return "", err
	}
	params := set.Init(3)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range params {
		params[i] += float32(0.05 * (2*rng.Float64() - 1))
	}
	return stepVsReference(d, m, set, params, LoadOptions{HeadChunk: 256, EmbedChunk: 256}, TrainOptions{}, B, T, micro)
}

// CheckFullGrads compares one full-parameter training step's loss and
// the gradients of every weight with PEFTLoss on the reference, for the
// F32 llama model cfg.
func CheckFullGrads(d *gpu.Device, cfg RandomConfig, B, T int, recompute string) (string, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return "", err
	}
	set, err := FullSet(m.Spec)
	if err != nil {
		return "", err
	}
	params, err := FullParamsOf(m, set)
	if err != nil {
		return "", err
	}
	return stepVsReference(d, m, set, params, LoadOptions{Full: set}, TrainOptions{Recompute: recompute}, B, T, 1)
}

// stepVsReference runs micro accumulated training steps of set on m (the
// model loaded with load, the trainer with opt's other fields) from
// params on tinyBatch, and compares the loss and the gradients with
// PEFTLoss on the reference (its gradients times micro).
func stepVsReference(d *gpu.Device, m *Model, set *peft.Set, params []float32, load LoadOptions, opt TrainOptions, B, T, micro int) (string, error) {
	batch := tinyBatch(m.Spec.Vocab, B, T)
	g, err := LoadGPU(d, m, load)
	if err != nil {
		return "", err
	}
	defer g.Free()
	opt.B, opt.T = B, T
	tr, err := NewTrainer(g, set, opt)
	if err != nil {
		return "", err
	}
	defer tr.Free()
	if err := tr.SetParams(params); err != nil {
		return "", err
	}
	var step TrainStep
	for range micro {
		if step, err = tr.Step(batch, AdamWHyper{}, false); err != nil {
			return "", err
		}
	}
	got, err := tr.Grads()
	if err != nil {
		return "", err
	}
	r, err := LoadReference(m)
	if err != nil {
		return "", err
	}
	p64 := make([]float64, len(params))
	for i, v := range params {
		p64[i] = float64(v)
	}
	want := make([]float64, len(params))
	loss, err := r.PEFTLoss(set, p64, PEFTBatch{B: B, T: T, Tokens: batch.Tokens, Targets: batch.Targets}, want)
	if err != nil {
		return "", err
	}
	for i := range want {
		want[i] *= float64(micro)
	}
	return compareGrads(set, step.Loss, loss, got, want)
}

// tinyBatch is B seeded sequences of T tokens with next-token targets, one
// target masked per sequence.
func tinyBatch(V, B, T int) Batch {
	b := Batch{Tokens: make([]int, B*T), Targets: make([]int, B*T)}
	for i := range b.Tokens {
		b.Tokens[i] = (i*37 + 11) % V
		b.Targets[i] = (i*53 + 29) % V
		if i%T == 2 {
			b.Targets[i] = -1
		}
	}
	return b
}

func compareGrads(set *peft.Set, gotLoss, wantLoss float64, got []float32, want []float64) (string, error) {
	lossDiff := math.Abs(gotLoss-wantLoss) / math.Abs(wantLoss)
	worst, worstName := 0.0, ""
	for _, t := range set.Tensors {
		var maxRef, maxDiff float64
		for i := t.Off; i < t.Off+t.Len; i++ {
			maxRef = math.Max(maxRef, math.Abs(want[i]))
			d := math.Abs(float64(got[i]) - want[i])
			if math.IsNaN(d) || d > maxDiff {
				maxDiff = d
			}
		}
		ratio := maxDiff / math.Max(maxRef, 1e-12)
		if math.IsNaN(ratio) || ratio > worst {
			worst, worstName = ratio, t.Name
		}
	}
	fig := fmt.Sprintf("loss %.6f vs ref %.6f (rel %.2g); %d tensors, worst gradient max|diff|/max|ref| %.2g (%s)",
		gotLoss, wantLoss, lossDiff, len(set.Tensors), worst, worstName)
	if !(lossDiff <= 1e-5) || !(worst <= gradTol) {
		return fig, fmt.Errorf("training step differs from the reference: %s (tolerance: loss 1e-5, gradients %g)", fig, gradTol)
	}
	return fig, nil
}
