//go:build !js

package model

import (
	"fmt"
	"math"
	"testing"
	"time"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// TestEstimateTraining builds training programs and compares the GPU
// memory they allocate (the device's own count) and the operations they
// record with EstimateTraining's figures, and its FLOPs with BenchTrain's
// counting.
func TestEstimateTraining(t *testing.T) {
	d := gputest.Device(t)
	mid := RandomConfig{Arch: Llama, Vocab: 2048, Hidden: 576, FFN: 1536, Layers: 4, Heads: 9, KVHeads: 3,
		Context: 512, Tied: true, Type: tensor.Q8_0, Seed: 3}
	cases := []struct {
		name string
		cfg  RandomConfig
		c    []peft.Config
		opt  TrainOptions
	}{
		{"tiny lora-qv", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}}, TrainOptions{B: 2, T: 64}},
		{"tiny lora-all dropout", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.LoRA, Rank: 16, Alpha: 32, Dropout: 0.1,
			Targets: []string{"q", "k", "v", "o", "gate", "up", "down"}}}, TrainOptions{B: 1, T: 96}},
		{"tiny prompt", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.Prompt, VirtualTokens: 20}}, TrainOptions{B: 1, T: 64}},
		{"tiny prefix-proj", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.Prefix, VirtualTokens: 8, PrefixProjection: true, EncoderHidden: 32}}, TrainOptions{B: 1, T: 64}},
		{"tiny ia3", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.IA3}}, TrainOptions{B: 1, T: 64}},
		{"tiny adapter houlsby", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.Adapter, Bottleneck: 16, AdapterType: "houlsby"}}, TrainOptions{B: 1, T: 64}},
		{"tiny gpt2 lora", tinyConfig(GPT2, tensor.F32), []peft.Config{{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}}, TrainOptions{B: 1, T: 64}},
		{"tiny lora recompute", tinyConfig(Llama, tensor.Q8_0), []peft.Config{{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}}, TrainOptions{B: 1, T: 64, Recompute: "on"}},
		{"mid lora-qv", mid, []peft.Config{{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}}, TrainOptions{B: 2, T: 256}},
		{"mid lora-qv auto 4 MiB", mid, []peft.Config{{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}}}, TrainOptions{B: 2, T: 256, MemoryBudget: 4 << 20}},
	}
	cal, err := Calibrate(d, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]*GPU{}
	defer func() {
		for _, g := range models {
			g.Free()
		}
	}()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := fmt.Sprint(c.cfg.Arch, c.cfg.Type, c.cfg.Layers)
			g := models[key]
			if g == nil {
				m, _, err := RandomModel(c.cfg)
				if err != nil {
					t.Fatal(err)
				}
				if g, err = LoadGPU(d, m, LoadOptions{}); err != nil {
					t.Fatal(err)
				}
				models[key] = g
			}
			set, err := peft.NewSet(PEFTDims(g.Spec), c.c...)
			if err != nil {
				t.Fatal(err)
			}
			est, err := EstimateTraining(g, set, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			d.ResetPeak()
			before := d.Stats()
			tr, err := NewTrainer(g, set, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Free()
			if err := tr.SetParams(set.Init(1)); err != nil {
				t.Fatal(err)
			}
			batch := tinyBatch(g.Spec.Vocab, c.opt.B, c.opt.T)
			if _, err := tr.Step(batch, AdamWHyper{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, true); err != nil {
				t.Fatal(err)
			}
			after := d.Stats()
			start := time.Now()
			if _, err := tr.Step(batch, AdamWHyper{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, true); err != nil {
				t.Fatal(err)
			}
			t.Logf("step: %.3f s, estimated %.3f s (%.2f GFLOP)", time.Since(start).Seconds(), est.Seconds(cal, 1, 1), est.FlopsPerStep/1e9)
			live, peak := after.LiveBytes-before.LiveBytes, after.PeakBytes-before.LiveBytes
			t.Logf("program: estimate %.2f MiB (acts %.2f, state %.2f, scratch %.2f), allocated %.2f MiB, peak %.2f MiB (%+.1f%%); recompute %v/%v; dispatches estimate %d, recorded %d; weights %.2f MiB",
				mib(est.ProgramBytes), mib(est.ActivationBytes), mib(est.StateBytes), mib(est.ScratchBytes), mib(live), mib(peak),
				100*(float64(est.ProgramBytes)/float64(peak)-1), est.Recompute, tr.Recomputing(), est.Dispatches, len(tr.steps), mib(g.WeightBytes))
			if est.Recompute != tr.Recomputing() {
				t.Errorf("estimate recompute %v, trainer %v", est.Recompute, tr.Recomputing())
			}
			if r := float64(est.ProgramBytes) / float64(peak); r < 0.75 || r > 1.25 {
				t.Errorf("estimated %d program bytes, the trainer's peak is %d (ratio %.2f)", est.ProgramBytes, peak, r)
			}
			if est.GPUBytes != est.ProgramBytes+g.WeightBytes {
				t.Errorf("GPU bytes %d are not weights %d + program %d", est.GPUBytes, g.WeightBytes, est.ProgramBytes)
			}
			if r := float64(est.Dispatches) / float64(len(tr.steps)); r < 0.7 || r > 1.4 {
				t.Errorf("estimated %d dispatches, the trainer records %d", est.Dispatches, len(tr.steps))
			}
			if set.VirtualTokens() == 0 {
				cfg := c.cfg
				tokens := float64(c.opt.B * c.opt.T)
				want := tokens*(4*cfg.MatmulParams()+6*float64(set.Size)) + 3*attentionFlops(cfg, c.opt.B, tr.S)
				if math.Abs(est.FlopsPerStep-want) > 1e-9*want {
					t.Errorf("FLOPs per step %g, BenchTrain counts %g", est.FlopsPerStep, want)
				}
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestCalibrate measures the device and checks the figures are usable.
func TestCalibrate(t *testing.T) {
	d := gputest.Device(t)
	before := d.Stats().LiveBytes
	c, err := Calibrate(d, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: matmul %.2f GFLOP/s, %.1f µs per small dispatch", d.Info.Name, c.MatmulGFLOPS, c.DispatchSeconds*1e6)
	if c.MatmulGFLOPS <= 0 || c.DispatchSeconds <= 0 || math.IsInf(c.MatmulGFLOPS, 0) {
		t.Errorf("calibration %+v", c)
	}
	if after := d.Stats().LiveBytes; after != before {
		t.Errorf("calibration left %d bytes allocated", after-before)
	}
}
