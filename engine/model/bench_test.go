//go:build !js

package model

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// BenchmarkForward times prefill (256 tokens) and decode on a random
// SmolLM2-135M-shaped model in Q8_0 and Q4_0, and the CPU reference:
//
//	go test ./engine/model -run '^$' -bench Forward -benchtime 1x
//
// WEBPEFT_BENCH_DECODE sets the decode steps (default 16).
func BenchmarkForward(b *testing.B) {
	decode := 16
	if v, err := strconv.Atoi(os.Getenv("WEBPEFT_BENCH_DECODE")); err == nil && v > 0 {
		decode = v
	}
	d := gputest.Device(b)
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0} {
		b.Run("gpu-"+typ.String(), func(b *testing.B) {
			r, err := BenchForward(d, SmolLM2Shape(typ), 256, decode)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PrefillTokS, "prefill-tok/s")
			b.ReportMetric(r.PrefillGFLOPS, "prefill-GFLOP/s")
			b.ReportMetric(r.DecodeTokS, "decode-tok/s")
			b.ReportMetric(r.DecodeGFLOPS, "decode-GFLOP/s")
			b.ReportMetric(float64(r.PeakBytes)/(1<<20), "peak-MiB")
		})
		b.Run("cpu-ref-"+typ.String(), func(b *testing.B) {
			r, err := BenchReference(SmolLM2Shape(typ), 32)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PrefillTokS, "prefill32-tok/s")
			b.ReportMetric(r.PrefillGFLOPS, "prefill-GFLOP/s")
			b.ReportMetric(r.DecodeTokS, "1-token-tok/s")
		})
	}
}

// BenchmarkTrain times two training steps of the SmolLM2-135M-shaped Q8_0
// and Q4_0 models at sequence 128, batch 1 (software adapters; a real GPU
// would use 256 x 4) for LoRA r=8 on q,v, LoRA r=16 on every linear layer
// and prompt tuning with 20 tokens:
//
//	go test ./engine/model -run '^$' -bench Train -benchtime 1x
func BenchmarkTrain(b *testing.B) {
	d := gputest.Device(b)
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0} {
		for _, set := range TrainBenchSets() {
			b.Run(typ.String()+"-"+set.Name, func(b *testing.B) {
				r, err := BenchTrain(d, SmolLM2Shape(typ), set.Make, 1, 128, 2)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.TokensPerS, "train-tok/s")
				b.ReportMetric(r.GFLOPS, "GFLOP/s")
				b.ReportMetric(float64(r.PeakBytes)/(1<<20), "peak-MiB")
				b.ReportMetric(float64(r.Ops), "ops/step")
			})
		}
	}
}

// BenchmarkTrainMemory builds (without running) the training program of
// the SmolLM2-135M-shaped Q8_0 model at sequence 256, batch 4 for LoRA
// r=8 on q,v and reports the GPU memory the engine allocated: weights,
// activations (recomputed per layer above the budget), gradients and
// optimizer state.
func BenchmarkTrainMemory(b *testing.B) {
	d := gputest.Device(b)
	d.ResetPeak()
	m, _, err := RandomModel(SmolLM2Shape(tensor.Q8_0))
	if err != nil {
		b.Fatal(err)
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Free()
	set, err := peft.NewSet(PEFTDims(m.Spec), peft.Config{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"auto", "off"} {
		before := d.Stats().LiveBytes
		tr, err := NewTrainer(g, set, TrainOptions{B: 4, T: 256, Recompute: mode})
		if err != nil {
			b.Fatal(err)
		}
		extra := d.Stats().LiveBytes - before
		b.Logf("recompute %s (on: %v): weights %.1f MiB, training program %.1f MiB, saved activations estimate %.1f MiB",
			mode, tr.Recomputing(), float64(g.WeightBytes)/(1<<20), float64(extra)/(1<<20), float64(tr.SavedActivationBytes())/(1<<20))
		if mode == "auto" {
			b.ReportMetric(float64(extra)/(1<<20), "program-MiB")
		}
		tr.Free()
	}
}

// BenchmarkTrainFamilies prints where a LoRA r=8 q,v training step of the
// SmolLM2-135M-shaped Q8_0 model (sequence 128, batch 1) spends its time,
// per kernel family (BenchTrainFamilies):
//
//	WEBPEFT_PROFILE_LAYERS=4 go test ./engine/model -run '^$' -bench TrainFamilies -benchtime 1x
//
// WEBPEFT_PROFILE_LAYERS cuts the model to that many layers (default: all
// 30), WEBPEFT_PROFILE_T sets the sequence and WEBPEFT_PROFILE_REPS the
// replays per family (default 2); WEBPEFT_PROFILE_BY=kernel times each
// kernel file instead of each family.
func BenchmarkTrainFamilies(b *testing.B) {
	cfg := SmolLM2Shape(tensor.Q8_0)
	envInt := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	cfg.Layers = envInt("WEBPEFT_PROFILE_LAYERS", cfg.Layers)
	T, reps := envInt("WEBPEFT_PROFILE_T", 128), envInt("WEBPEFT_PROFILE_REPS", 2)
	d := gputest.Device(b)
	for i := 0; i < b.N; i++ {
		var by func(string) string
		if os.Getenv("WEBPEFT_PROFILE_BY") == "kernel" {
			by = func(k string) string { return k }
		}
		r, err := BenchTrainFamilies(d, cfg, TrainBenchSets()[0].Make, 1, T, reps, by)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%d layers, T=%d: step %.3f s, copies alone %.3f s, train_matmul_time_fraction %.3f\n",
			cfg.Layers, T, r.StepSeconds, r.CopySeconds, r.MatmulFraction)
		for _, f := range r.Families {
			fmt.Fprintf(os.Stderr, "  %-28s %5d dispatches %8.3f s %6.1f%%\n", f.Family, f.Dispatches, f.Seconds, 100*f.Fraction)
		}
		b.ReportMetric(r.StepSeconds, "step-s")
	}
}
