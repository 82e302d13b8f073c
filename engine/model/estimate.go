package model

import (
	"fmt"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
)

// TrainEstimate is what a training program will cost, known before it is
// built: the GPU memory NewTrainer would allocate and the arithmetic of a
// step.
type TrainEstimate struct {
	WeightBytes     uint64 `json:"weightBytes"`     // the loaded model's weights (GPU.WeightBytes)
	ActivationBytes uint64 `json:"activationBytes"` // saved layer activations (one layer's set when recomputing) and residuals
	StateBytes      uint64 `json:"stateBytes"`      // PEFT parameters, gradients, AdamW moments and the zeros they are cleared from
	ScratchBytes    uint64 `json:"scratchBytes"`    // logits chunk, backward buffers, step inputs, kernel parameters
	ProgramBytes    uint64 `json:"programBytes"`    // the training program: activations + state + scratch
	GPUBytes        uint64 `json:"gpuBytes"`        // weights + program
	Recompute       bool   `json:"recompute"`       // whether NewTrainer would recompute activations
	// FlopsPerStep is the work of one Trainer.Step (B sequences; a step
	// with gradient accumulation costs that many times more), counted as
	// BenchTrain does: 4 per frozen weight per row, attention forward and
	// backward, 6 per trainable parameter per row.
	FlopsPerStep float64 `json:"flopsPerStep"`
	Dispatches   int     `json:"dispatches"` // about how many GPU operations a step records
}

// EstimateTraining returns what NewTrainer(g, set, opt) would allocate and
// compute, without allocating anything: the same buffers sized by the same
// rules, with the layer activations sized by the Trainer's own estimate
// (layerFloats) and recomputation chosen as chooseRecompute chooses it.
func EstimateTraining(g *GPU, set *peft.Set, opt TrainOptions) (TrainEstimate, error) {
	t, err := plannedTrainer(g, set, opt)
	if err != nil {
		return TrainEstimate{}, err
	}
	if t.recompute, err = t.chooseRecompute(); err != nil {
		return TrainEstimate{}, err
	}
	s := g.Spec
	B, T, n := uint64(opt.B), uint64(opt.T), uint64(t.n)
	C, Q, KV, F := uint64(s.Hidden), uint64(s.Heads*s.HeadDim), uint64(s.KVHeads*s.HeadDim), uint64(s.FFN)
	S, size := uint64(t.S), uint64(set.Size)
	chunk := uint64(0)
	for _, w := range g.head {
		chunk = max(chunk, uint64(w.N))
	}
	var k *trainKernels // its scratch sizes depend on the shapes only

	// The flat parameters, their gradients, AdamW's moments and zeros (the
	// model's own weights are the parameters in full-parameter training).
	state := 4 * size
	if !isFull(set) {
		state += size
	}

	// The residual stream of every layer, and the saved activations: every
	// layer's, or one layer's set re-filled during the backward pass.
	sets := uint64(s.Layers)
	if t.recompute {
		sets = 1
	}
	acts := uint64(s.Layers+1)*n*C + sets*t.layerFloats()

	// Step inputs, the head, the backward pass's buffers and scratch.
	scratch := B*T + 4*n // tokens, positions, targets, loss weights, losses
	scratch += n*C + 3*n + n*chunk + uint64(ops.PartialFloats(t.n, len(g.head))) + B*T*C
	if g.pos != nil {
		scratch += 2 * n * C // learned positions, and their sum with the tokens
	}
	if c := uint64(len(g.embdChunks)); c > 0 {
		scratch += c * (B*T + B*T*C) // a chunked embedding's gathers
	}
	r := uint64(1)
	if c, ok := set.Config(peft.LoRA); ok {
		r = max(r, uint64(c.Rank))
	}
	if c, ok := set.Config(peft.Adapter); ok {
		r = max(r, uint64(c.Bottleneck))
	}
	scratch += 5*n*C + 4*n*Q + 5*n*KV + 2*B*S*KV + 4*n*F + n*chunk + 3*n*r
	if c, ok := set.Config(peft.LoRA); ok && c.Dropout > 0 {
		scratch += n * max(C, Q, F)
	}
	width := max(t.Pp*s.KVHeads*s.HeadDim, t.P*s.Hidden, 1)
	scratch += B*uint64(width) + 2
	scratch += uint64(k.colSumScratch(t.n, max(s.Hidden, s.FFN, s.Heads*s.HeadDim, width)))
	scratch += uint64(k.normScratch(t.n, s.Hidden)) + uint64(k.clipScratch(set.Size))
	if c, ok := set.Config(peft.Prefix); ok && c.PrefixProjection {
		P, H, N := uint64(c.VirtualTokens), uint64(c.EncoderHidden), uint64(2*s.Layers)*KV
		stride := (P*KV + peft.Align - 1) / peft.Align * peft.Align
		scratch += 4*P*H + 2*P*N + 2*uint64(2*s.Layers)*stride
		scratch += uint64(k.colSumScratch(int(P), int(max(N, H))))
	}
	if isFull(set) {
		scratch += 3*B*T + 1
	}
	dispatches := t.estimateDispatches()

	e := TrainEstimate{WeightBytes: g.WeightBytes, Recompute: t.recompute, Dispatches: dispatches,
		ActivationBytes: 4 * acts, StateBytes: 4 * state,
		ScratchBytes: 4*scratch + uint64(dispatches)*paramsBytesPerCall}
	e.ProgramBytes = e.ActivationBytes + e.StateBytes + e.ScratchBytes
	e.GPUBytes = e.WeightBytes + e.ProgramBytes
	rows := float64(t.n)
	e.FlopsPerStep = rows*(4*specMatmulParams(s)+6*float64(set.Size)) +
		3*float64(opt.B)*float64(2*t.S*(t.S+1)*s.Heads*s.HeadDim*s.Layers)
	return e, nil
}

// paramsBytesPerCall is about the size of one recorded call's uniform
// parameter buffer.
const paramsBytesPerCall = 32

// plannedTrainer is a Trainer with its shapes set and nothing allocated,
// checked: the first part of NewTrainer, which the estimate shares.
func plannedTrainer(g *GPU, set *peft.Set, opt TrainOptions) (*Trainer, error) {
	s := g.Spec
	if opt.B < 1 || opt.T < 1 {
		return nil, fmt.Errorf("model: train shape %d x %d", opt.B, opt.T)
	}
	t := &Trainer{g: g, set: set, opt: opt, P: set.VirtualTokens(), Pp: set.PrefixTokens()}
	t.Tp = t.P + opt.T
	t.S = t.Pp + t.Tp
	t.n = opt.B * t.Tp
	if t.S > g.MaxPositions() {
		return nil, fmt.Errorf("model: %d tokens per sequence (%d virtual + %d prefix + %d real) are more than the %d positions this engine runs for %s",
			t.S, t.P, t.Pp, opt.T, g.MaxPositions(), s.Name)
	}
	if got, want := set.Dims, PEFTDims(s); got != want {
		return nil, fmt.Errorf("model: the PEFT set was made for %+v, not this model (%+v)", got, want)
	}
	return t, nil
}

// estimateDispatches approximates the number of operations a step
// records (len(Trainer.steps)), fitted on the engine's programs (within
// 15% on the tests' models): about 34 per layer for the frozen model's
// forward and backward, a few more per PEFT site, the forward again when
// recomputing, and a few per vocabulary chunk of the head.
func (t *Trainer) estimateDispatches() int {
	s := t.g.Spec
	perLayer := 34
	for _, c := range t.set.Configs {
		switch c.Method {
		case peft.LoRA:
			perLayer += 7 * len(c.Targets)
		case peft.IA3:
			perLayer += 9
		case peft.Adapter:
			perLayer += 12 * len(adapterPlaces(c))
		case peft.Prefix:
			perLayer += 4
		}
	}
	if t.recompute {
		perLayer += 21
	}
	return 20 + s.Layers*perLayer + 5*len(t.g.head)
}

// specMatmulParams is the number of weights a row multiplies through:
// every layer's matrices and the LM head (RandomConfig.MatmulParams).
func specMatmulParams(s *Spec) float64 {
	Q, KV := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	ffn := 3 * s.FFN * s.Hidden
	if s.Arch == GPT2 {
		ffn = 2 * s.FFN * s.Hidden
	}
	layer := s.Hidden*(Q+2*KV) + Q*s.Hidden + ffn
	return float64(s.Layers*layer + s.Vocab*s.Hidden)
}

// TrainEfficiency is the share of the f32 matmul kernel's rate that whole
// training steps reach: on lavapipe a SmolLM2-135M-shaped LoRA step runs
// 5.3 GFLOP/s against about 15.7 for matmul_f32_rb at 256x1536x576
// (BENCHMARKS.md), the rest going to attention, norms, the loss, small
// matrices and quantized weights.
const TrainEfficiency = 1.0 / 3

// Calibration is a device's measured speed, for time estimates.
type Calibration struct {
	MatmulGFLOPS    float64 `json:"matmulGFLOPS"`    // matmul_f32_rb at 256x1536x576
	DispatchSeconds float64 `json:"dispatchSeconds"` // the cost of one small dispatch in a long submit
}

// Calibrate measures d for about 2 x minTime: the f32 register-blocked
// matmul's rate at a model-like shape, and the cost of a tiny dispatch.
func Calibrate(d *gpu.Device, minTime time.Duration) (Calibration, error) {
	var c Calibration
	big, err := measureMatmul(d, 256, 1536, 576, minTime)
	if err != nil {
		return c, err
	}
	small, err := measureMatmul(d, 8, 8, 8, minTime)
	if err != nil {
		return c, err
	}
	c.MatmulGFLOPS, c.DispatchSeconds = big, 2*8*8*8/(small*1e9)
	return c, nil
}

// measureMatmul runs an f32 matmul of shape (m, n, k) through ops.Measure
// and frees its buffers.
func measureMatmul(d *gpu.Device, m, n, k int, minTime time.Duration) (float64, error) {
	var bufs []*gpu.Buffer
	var call *gpu.Call
	defer func() {
		call.Free()
		for _, b := range bufs {
			b.Free()
		}
	}()
	bench := ops.Bench{Name: fmt.Sprintf("calibrate matmul %dx%dx%d", m, n, k), Flops: 2 * float64(m*n*k),
		Setup: func(d *gpu.Device) (func(int) error, error) {
			mm, err := ops.NewMatMul(d, ops.RegisterBlocked)
			if err != nil {
				return nil, err
			}
			for _, size := range []int{m * k, n * k, m * n} {
				b, err := d.NewBuffer("calibrate", 4*uint64(size))
				if err != nil {
					return nil, err
				}
				bufs = append(bufs, b)
			}
			if call, err = mm.Call(bufs[2], bufs[0], bufs[1], m, n, k); err != nil {
				return nil, err
			}
			return func(iters int) error {
				r := d.NewRecorder("calibrate")
				for range iters {
					r.Dispatch(call)
				}
				if err := r.Submit(); err != nil {
					return err
				}
				return d.Wait()
			}, nil
		}}
	return ops.Measure(d, bench, minTime)
}

// Seconds estimates steps optimizer steps of accum micro-steps each on a
// device calibrated as c: the arithmetic at TrainEfficiency of the matmul
// rate, plus the dispatches' fixed cost.
func (e TrainEstimate) Seconds(c Calibration, steps, accum int) float64 {
	if c.MatmulGFLOPS <= 0 {
		return 0
	}
	micro := float64(steps * max(accum, 1))
	return micro * (e.FlopsPerStep/(TrainEfficiency*c.MatmulGFLOPS*1e9) + float64(e.Dispatches)*c.DispatchSeconds)
}
