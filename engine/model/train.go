package model

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
)

// TrainOptions shape a training program.
type TrainOptions struct {
	B, T int // sequences per step and real tokens per sequence
	// Recompute re-runs each layer's forward pass during the backward pass
	// instead of keeping every layer's activations: "auto" (default) when
	// the saved activations would exceed MemoryBudget, "on" or "off".
	Recompute string
	// MemoryBudget bounds the saved activations in auto mode; 0 means
	// 512 MiB.
	MemoryBudget uint64
	// MaxGradNorm clips the global gradient norm; 0 turns clipping off.
	MaxGradNorm float32
	// Seed drives dropout.
	Seed uint64
}

// TrainStep is the result of one optimizer step.
type TrainStep struct {
	Loss   float64 // mean loss over the step's target tokens
	Tokens int     // target tokens in the step
}

// Trainer is the training program for one (B, T) shape: the forward pass
// with the PEFT methods of its set applied, the loss, the backward pass
// (gradients flow through the frozen weights to the PEFT parameters only)
// and AdamW, recorded once and submitted once per step. The PEFT
// parameters, their gradients and the AdamW moments are four flat
// buffers laid out by the set.
type Trainer struct {
	g   *GPU
	set *peft.Set
	k   *trainKernels
	opt TrainOptions

	P, Pp int // prompt-tuning virtual tokens, prefix slots
	Tp    int // rows per sequence through the layers: P + T
	S     int // keys per sequence: Pp + Tp
	n     int // B * Tp

	params, grads, m, v *gpu.Buffer
	pview, gview        map[string]*gpu.Buffer // per-tensor views
	proj                *prefixMLP             // prefix reparameterisation, or nil
	fullst              *fullState             // full-parameter training, or nil

	tokens, pos, targets, dloss *gpu.Buffer
	zeros                       *gpu.Buffer // source for clearing the gradients
	split                       *splitGather
	losses                      *gpu.Buffer
	lossBack                    *gpu.Readback // losses, copied home by the step's own submit

	recompute bool
	xs        []*gpu.Buffer // (n, C) the input of each layer and the final residual
	layers    []*layerActs  // one per layer, or one shared when recomputing
	head      *headActs
	bw        *backActs

	steps   []step
	bufs    []*gpu.Buffer
	adam    adamCall
	stepNum int
	micro   int        // micro-batches since the last update (gradient accumulation)
	drops   []dropSite // LoRA dropout calls, reseeded before every submit
}

// dropSite is one LoRA dropout dispatch: its mask depends on the seed, the
// optimizer step, the micro-batch and the site (layer, module), so a
// resumed run draws the same masks and the backward pass the forward's.
type dropSite struct {
	call *gpu.Call
	n    int
	p    float64
	site uint32
	acc  bool // a backward call (accumulating)
}

// reseed sets every dropout call's mask for the coming submit; training
// false turns dropout off (validation).
func (t *Trainer) reseed(training bool) error {
	seed := uint32(t.opt.Seed*0x9e3779b9) ^ uint32(t.stepNum)*0x85ebca6b ^ uint32(t.micro)*0xc2b2ae35
	for _, d := range t.drops {
		p := d.p
		if !training {
			p = 0
		}
		if err := t.k.drop.Reseed(d.call, d.n, p, seed^d.site*0x27d4eb2f, d.acc); err != nil {
			return err
		}
	}
	return nil
}

// NewTrainer records the training program of set's methods on g.
func NewTrainer(g *GPU, set *peft.Set, opt TrainOptions) (*Trainer, error) {
	t, err := plannedTrainer(g, set, opt)
	if err != nil {
		return nil, err
	}
	if isFull(set) {
		if err := t.checkFull(); err != nil {
			return nil, err
		}
	}
	if t.k, err = newTrainKernels(g); err != nil {
		return nil, err
	}
	t.recompute, err = t.chooseRecompute()
	if err != nil {
		return nil, err
	}
	b := &trainBuilder{t: t}
	b.alloc()
	b.record()
	if b.err != nil {
		t.Free()
		return nil, b.err
	}
	return t, nil
}

// chooseRecompute applies TrainOptions.Recompute.
func (t *Trainer) chooseRecompute() (bool, error) {
	switch t.opt.Recompute {
	case "on":
		return true, nil
	case "off":
		return false, nil
	case "", "auto":
		budget := t.opt.MemoryBudget
		if budget == 0 {
			budget = 512 << 20
		}
		return t.SavedActivationBytes() > budget, nil
	}
	return false, fmt.Errorf("model: recompute %q: want auto, on or off", t.opt.Recompute)
}

// SavedActivationBytes estimates the activations all layers would keep
// for the backward pass without recomputation.
func (t *Trainer) SavedActivationBytes() uint64 {
	return uint64(t.g.Spec.Layers) * t.layerFloats() * 4
}

// layerFloats is the size of one layerActs, in float32s.
func (t *Trainer) layerFloats() uint64 {
	s := t.g.Spec
	C, Q, KV, F := s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	rows := 6*C + 3*Q + 4*KV + 4*F + 64 // generous: LoRA and adapter rows
	return uint64(t.n)*uint64(rows) + uint64(2*t.opt.B*t.S*KV)
}

// Recomputing reports whether the program re-runs layers in backward.
func (t *Trainer) Recomputing() bool { return t.recompute }

// Free releases the program's buffers (not the model).
func (t *Trainer) Free() {
	for _, st := range t.steps {
		st.call.Free()
	}
	for _, b := range t.bufs {
		b.Free()
	}
	t.steps, t.bufs = nil, nil
	if t.lossBack != nil {
		t.lossBack.Free()
		t.lossBack = nil
	}
	if t.k != nil {
		t.k.free()
	}
}

// SetParams uploads the flat PEFT parameters (set.Size floats) and resets
// the optimizer's moments and step.
func (t *Trainer) SetParams(p []float32) error {
	if len(p) != t.set.Size {
		return fmt.Errorf("model: %d parameters for a set of %d", len(p), t.set.Size)
	}
	if err := t.params.UploadF32(0, p); err != nil {
		return err
	}
	zero := make([]float32, t.set.Size)
	if err := t.m.UploadF32(0, zero); err != nil {
		return err
	}
	t.stepNum = 0
	return t.v.UploadF32(0, zero)
}

// Params reads the flat PEFT parameters back.
func (t *Trainer) Params() ([]float32, error) { return t.params.ReadF32(t.set.Size) }

// Grads reads the flat gradients of the last step (before clipping).
func (t *Trainer) Grads() ([]float32, error) { return t.grads.ReadF32(t.set.Size) }

// Batch is one step's B sequences of T tokens and targets (-1: no loss),
// sequence-major.
type Batch struct {
	Tokens, Targets []int
}

// upload writes the step's tokens, positions, targets and per-row loss
// weights (1/count on target rows) and returns the number of targets.
func (t *Trainer) upload(b Batch) (int, error) {
	B, T, V := t.opt.B, t.opt.T, t.g.Spec.Vocab
	if len(b.Tokens) != B*T || len(b.Targets) != B*T {
		return 0, fmt.Errorf("model: batch of %d tokens and %d targets for %d x %d", len(b.Tokens), len(b.Targets), B, T)
	}
	ids := make([]uint32, B*T)
	pos := make([]uint32, t.n)
	tgt := make([]uint32, t.n)
	w := make([]float32, t.n)
	count := 0
	for i := range b.Tokens {
		if b.Tokens[i] < 0 || b.Tokens[i] >= V || b.Targets[i] < -1 || b.Targets[i] >= V {
			return 0, fmt.Errorf("model: token %d / target %d at %d is outside the vocabulary of %d", b.Tokens[i], b.Targets[i], i, V)
		}
		ids[i] = uint32(b.Tokens[i])
		if b.Targets[i] >= 0 {
			count++
		}
	}
	if count == 0 {
		return 0, fmt.Errorf("model: the batch has no target tokens")
	}
	for r := range pos {
		seq, j := r/t.Tp, r%t.Tp
		pos[r] = uint32(t.Pp + j)
		tgt[r] = 0xFFFFFFFF
		if j >= t.P {
			if id := b.Targets[seq*T+j-t.P]; id >= 0 {
				tgt[r], w[r] = uint32(id), 1/float32(count)
			}
		}
	}
	for _, u := range []struct {
		b *gpu.Buffer
		v []uint32
	}{{t.tokens, ids}, {t.pos, pos}, {t.targets, tgt}} {
		if err := u.b.UploadU32(0, u.v); err != nil {
			return 0, err
		}
	}
	if t.split != nil {
		if err := t.split.upload(ids); err != nil {
			return 0, err
		}
	}
	if t.fullst != nil {
		if err := t.fullst.uploadGroups(b.Tokens); err != nil {
			return 0, err
		}
	}
	return count, t.dloss.UploadF32(0, w)
}

// Step runs one forward and backward pass on b and, when update is set,
// the optimizer with hyper-parameters h (gradients accumulate over steps
// without update, for gradient accumulation; the first step after an
// update starts from zero gradients).
func (t *Trainer) Step(b Batch, h AdamWHyper, update bool) (TrainStep, error) {
	count, err := t.upload(b)
	if err != nil {
		return TrainStep{}, err
	}
	if err := t.reseed(true); err != nil {
		return TrainStep{}, err
	}
	t.micro++
	if update {
		t.stepNum++
		t.micro = 0
		h.Step = t.stepNum
		if err := t.adam.set(h); err != nil {
			return TrainStep{}, err
		}
	}
	r := t.g.d.NewRecorder(fmt.Sprintf("train %dx%d", t.opt.B, t.opt.T))
	for _, st := range t.steps {
		switch {
		case st.call != nil && (update || !st.optimizer):
			r.Dispatch(st.call)
		case st.copy != nil:
			st.copy(r, 0)
		}
	}
	if update {
		// The next step starts from zero gradients.
		r.Copy(t.zeros, 0, t.grads, 0, t.grads.Size)
	}
	r.ReadBack(t.lossBack, t.losses, 0)
	if err := r.Submit(); err != nil {
		return TrainStep{}, err
	}
	loss, err := t.meanLoss(count)
	if err != nil {
		return TrainStep{}, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return TrainStep{Loss: loss, Tokens: count}, fmt.Errorf("model: the loss is %v", loss)
	}
	return TrainStep{Loss: loss, Tokens: count}, nil
}

// Loss runs the forward pass only and returns the mean loss over b's
// targets (validation).
func (t *Trainer) Loss(b Batch) (float64, error) {
	count, err := t.upload(b)
	if err != nil {
		return 0, err
	}
	if err := t.reseed(false); err != nil {
		return 0, err
	}
	r := t.g.d.NewRecorder(fmt.Sprintf("eval %dx%d", t.opt.B, t.opt.T))
	for _, st := range t.steps {
		if !st.forward {
			continue
		}
		if st.call != nil {
			r.Dispatch(st.call)
		} else {
			st.copy(r, 0)
		}
	}
	r.ReadBack(t.lossBack, t.losses, 0)
	if err := r.Submit(); err != nil {
		return 0, err
	}
	return t.meanLoss(count)
}

// meanLoss waits for the per-row losses (the step's only readback, in its
// own submit) and returns their mean over the count target tokens.
func (t *Trainer) meanLoss(count int) (float64, error) {
	losses, err := t.lossBack.F32()
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, l := range losses {
		sum += float64(l)
	}
	return sum / float64(count), nil
}

// Set is the trainer's PEFT set.
func (t *Trainer) Set() *peft.Set { return t.set }

// State reads the parameters and AdamW moments back, with AdamW's step.
func (t *Trainer) State() (params, m, v []float32, step int, err error) {
	if params, err = t.params.ReadF32(t.set.Size); err != nil {
		return
	}
	if m, err = t.m.ReadF32(t.set.Size); err != nil {
		return
	}
	v, err = t.v.ReadF32(t.set.Size)
	return params, m, v, t.stepNum, err
}

// SetState restores what State returned.
func (t *Trainer) SetState(params, m, v []float32, step int) error {
	for _, x := range []struct {
		b *gpu.Buffer
		v []float32
	}{{t.params, params}, {t.m, m}, {t.v, v}} {
		if len(x.v) != t.set.Size {
			return fmt.Errorf("model: %d values for a set of %d", len(x.v), t.set.Size)
		}
		if err := x.b.UploadF32(0, x.v); err != nil {
			return err
		}
	}
	t.stepNum, t.micro = step, 0
	return nil
}
