package model

import (
	"fmt"
	"sort"
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
	m, _, err := RandomModel(cfg)
	if err != nil {
		return TrainProfile{}, err
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		return TrainProfile{}, err
	}
	defer g.Free()
	s, err := set(m.Spec)
	if err != nil {
		return TrainProfile{}, err
	}
	tr, err := NewTrainer(g, s, TrainOptions{B: B, T: T, MaxGradNorm: 1})
	if err != nil {
		return TrainProfile{}, err
	}
	defer tr.Free()
	if err := tr.SetParams(s.Init(1)); err != nil {
		return TrainProfile{}, err
	}
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
