package model

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
)

// TrainProfile is BenchTrain's measurement plus what one step costs in
// dispatches and submits and how much of its time the matmul kernels take.
type TrainProfile struct {
	TrainBench
	DispatchesPerStep int `json:"dispatches_per_step"` // compute dispatches of one Trainer.Step
	SubmitsPerStep    int `json:"submits_per_step"`    // queue submits of one Trainer.Step (the loss readback counts)
	// MatmulTimeFraction is 1 - (step time with the skipped kernels left
	// out) / (whole step time), both timed by replaying the step's recorded
	// program (one submit, one wait, no readback), alternately, and taking
	// the fastest of each.
	MatmulTimeFraction float64 `json:"train_matmul_time_fraction"`
	Skipped            int     `json:"skipped_dispatches"` // dispatches left out per step
}

// BenchTrainProfile is BenchTrain, then the profile: one Step's dispatch
// and submit counts from gpu.Stats, and the step timed with and without
// the dispatches whose kernel file skip reports (reps times each). The
// program without them computes garbage; only its time is read.
func BenchTrainProfile(d *gpu.Device, cfg RandomConfig, set func(*Spec) (*peft.Set, error), B, T, steps, reps int,
	skip func(kernel string) bool) (TrainProfile, error) {
	d.ResetPeak()
	tr, s, free, err := profileTrainer(d, cfg, set, B, T)
	if err != nil {
		return TrainProfile{}, err
	}
	defer free()
	batch := tinyBatch(cfg.Vocab, B, T)
	h := AdamWHyper{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	before := d.Stats()
	if _, err := tr.Step(batch, h, true); err != nil { // warm-up, counted
		return TrainProfile{}, err
	}
	after := d.Stats()
	start := time.Now()
	for i := 0; i < steps; i++ {
		if _, err := tr.Step(batch, h, true); err != nil {
			return TrainProfile{}, err
		}
	}
	sec := time.Since(start).Seconds() / float64(steps)
	tokens := float64(B * T)
	flops := tokens*(4*cfg.MatmulParams()+6*float64(s.Size)) + 3*attentionFlops(cfg, B, tr.S)
	p := TrainProfile{
		TrainBench: TrainBench{B: B, T: T, TokensPerS: tokens / sec, GFLOPS: flops / sec / 1e9,
			PeakBytes: d.Stats().PeakBytes, Recompute: tr.Recomputing(), Ops: len(tr.steps)},
		DispatchesPerStep: after.Dispatches - before.Dispatches,
		SubmitsPerStep:    after.Submits - before.Submits,
	}
	if skip == nil || reps < 1 {
		return p, nil
	}
	var with, without []float64
	for i := 0; i < reps; i++ {
		for _, leaveOut := range []bool{false, true} {
			sec, n, err := tr.replay(skip, leaveOut)
			if err != nil {
				return p, err
			}
			if leaveOut {
				without, p.Skipped = append(without, sec), n
			} else {
				with = append(with, sec)
			}
		}
	}
	sort.Float64s(with)
	sort.Float64s(without)
	if with[0] > 0 {
		p.MatmulTimeFraction = max(0, 1-without[0]/with[0])
	}
	return p, nil
}

// profileTrainer loads a random model of shape cfg and records the
// training program of set at batch B, sequence T; free releases both.
func profileTrainer(d *gpu.Device, cfg RandomConfig, set func(*Spec) (*peft.Set, error), B, T int) (*Trainer, *peft.Set, func(), error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := set(m.Spec)
	if err != nil {
		g.Free()
		return nil, nil, nil, err
	}
	tr, err := NewTrainer(g, s, TrainOptions{B: B, T: T, MaxGradNorm: 1})
	if err != nil {
		g.Free()
		return nil, nil, nil, err
	}
	free := func() { tr.Free(); g.Free() }
	if err := tr.SetParams(s.Init(1)); err != nil {
		free()
		return nil, nil, nil, err
	}
	return tr, s, free, nil
}

// KernelFamily names the family a kernel file belongs to for the per-family
// profile: its file name up to the first underscore, with a few files
// grouped by what they do (all attention forward kernels, both attention
// backward passes, the norms, the loss, the optimizer's reductions).
func KernelFamily(kernel string) string {
	name := strings.TrimSuffix(kernel, ".wgsl")
	switch {
	case strings.HasPrefix(name, "attention_") && strings.HasSuffix(name, "_bwd"):
		return "attention_bwd"
	case strings.HasPrefix(name, "attention_"):
		return "attention_fwd"
	case strings.HasPrefix(name, "rmsnorm_"), strings.HasPrefix(name, "layernorm_"):
		return "norm"
	case strings.HasPrefix(name, "crossentropy_"), strings.HasPrefix(name, "softmax_"):
		return "loss"
	case strings.HasPrefix(name, "adamw_"), strings.HasPrefix(name, "grad_norm_"):
		return "optimizer"
	case strings.HasPrefix(name, "sum_"), strings.HasPrefix(name, "blocksum_"), strings.HasPrefix(name, "colsum_"):
		return "reduce"
	case strings.HasPrefix(name, "swiglu_"), strings.HasPrefix(name, "gelu_"), strings.HasPrefix(name, "relu_"),
		strings.HasPrefix(name, "tanh_"):
		return "activation"
	case strings.HasPrefix(name, "add_"), strings.HasPrefix(name, "mul_"), strings.HasPrefix(name, "scale"),
		strings.HasPrefix(name, "bias_"):
		return "elementwise"
	case strings.HasPrefix(name, "embed_"), strings.HasPrefix(name, "split_blocks_"):
		return "embed"
	}
	if i := strings.IndexByte(name, '_'); i > 0 {
		return name[:i]
	}
	return name
}

// FamilyTime is one kernel family's share of a training step: its
// dispatches per step and the seconds the step's program takes with only
// that family's dispatches (and the step's copies) in it.
type FamilyTime struct {
	Family     string  `json:"family"`
	Dispatches int     `json:"dispatches"`
	Seconds    float64 `json:"seconds"`  // the family alone, fastest of reps
	Fraction   float64 `json:"fraction"` // Seconds / the whole step's replay time
}

// TrainFamilies is a training step's replay time and its per-family split.
type TrainFamilies struct {
	StepSeconds float64 `json:"step_seconds"` // the whole program, fastest of reps
	CopySeconds float64 `json:"copy_seconds"` // the program's copies alone
	// MatmulFraction is BenchTrainProfile's train_matmul_time_fraction:
	// 1 - (the program without the matmul, gemm and vocab families) /
	// (the whole program), fastest of reps each.
	MatmulFraction float64      `json:"train_matmul_time_fraction"`
	Families       []FamilyTime `json:"families"` // slowest family first
}

// BenchTrainFamilies records the training program of set on a random model
// of shape cfg, runs one step, then replays the program reps times whole,
// with its copies only, and with each kernel family alone (family, or
// KernelFamily when nil; pass a function returning the file name to time
// each kernel), taking the fastest of each. The partial programs compute garbage; only
// their time is read. The families' seconds need not add up to the step:
// each partial replay also pays a submit and a wait.
func BenchTrainFamilies(d *gpu.Device, cfg RandomConfig, set func(*Spec) (*peft.Set, error), B, T, reps int,
	family func(kernel string) string) (TrainFamilies, error) {
	if family == nil {
		family = KernelFamily
	}
	tr, _, free, err := profileTrainer(d, cfg, set, B, T)
	if err != nil {
		return TrainFamilies{}, err
	}
	defer free()
	h := AdamWHyper{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if _, err := tr.Step(tinyBatch(cfg.Vocab, B, T), h, true); err != nil { // warm-up
		return TrainFamilies{}, err
	}
	count := map[string]int{}
	for _, st := range tr.steps {
		if st.call != nil {
			count[family(st.call.Kernel.Name)]++
		}
	}
	fams := make([]string, 0, len(count))
	for f := range count {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	best := map[string]float64{}
	time1 := func(key string, skip func(string) bool) error {
		sec, _, err := tr.replay(skip, true)
		if err != nil {
			return err
		}
		if b, ok := best[key]; !ok || sec < b {
			best[key] = sec
		}
		return nil
	}
	for i := 0; i < max(reps, 1); i++ {
		if err := time1("", func(string) bool { return false }); err != nil {
			return TrainFamilies{}, err
		}
		if err := time1(" copies", func(string) bool { return true }); err != nil {
			return TrainFamilies{}, err
		}
		if err := time1(" no matmul", isMatmulFamily); err != nil {
			return TrainFamilies{}, err
		}
		for _, f := range fams {
			if err := time1(f, func(k string) bool { return family(k) != f }); err != nil {
				return TrainFamilies{}, err
			}
		}
	}
	r := TrainFamilies{StepSeconds: best[""], CopySeconds: best[" copies"],
		MatmulFraction: max(0, 1-best[" no matmul"]/best[""])}
	for _, f := range fams {
		r.Families = append(r.Families, FamilyTime{Family: f, Dispatches: count[f], Seconds: best[f], Fraction: best[f] / r.StepSeconds})
	}
	sort.Slice(r.Families, func(i, j int) bool { return r.Families[i].Seconds > r.Families[j].Seconds })
	return r, nil
}

// isMatmulFamily reports whether kernel is one of the families
// train_matmul_time_fraction counts (engine/bench.MatmulFamily: matmul_*,
// gemm_*, vocab_*).
func isMatmulFamily(kernel string) bool {
	switch KernelFamily(kernel) {
	case "matmul", "gemm", "vocab":
		return true
	}
	return false
}

// replay submits the step's program once (update included) and waits,
// leaving out the dispatches skip names when leaveOut; it returns the
// seconds taken and the number of dispatches left out.
func (t *Trainer) replay(skip func(string) bool, leaveOut bool) (float64, int, error) {
	r := t.g.d.NewRecorder(fmt.Sprintf("train profile %dx%d", t.opt.B, t.opt.T))
	skipped := 0
	for _, st := range t.steps {
		switch {
		case st.call != nil && leaveOut && skip(st.call.Kernel.Name):
			skipped++
		case st.call != nil:
			r.Dispatch(st.call)
		case st.copy != nil:
			st.copy(r, 0)
		}
	}
	start := time.Now()
	if err := r.Submit(); err != nil {
		return 0, 0, err
	}
	if err := t.g.d.Wait(); err != nil {
		return 0, 0, err
	}
	return time.Since(start).Seconds(), skipped, nil
}
