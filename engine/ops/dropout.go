package ops

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Dropout launches dropout_fwd.wgsl and dropout_bwd.wgsl: inverted dropout
// whose mask is a stateless hash of (seed, element index)
// (ref.DropoutHash), so nothing is stored between the passes, the pure-Go
// twin draws the same mask bit for bit, and a checkpointed seed replays a
// step exactly. The kernels are built once, in NewDropout.
type Dropout struct {
	d        *gpu.Device
	fwd, bwd *gpu.Kernel
}

// dropoutParams is the Params struct of dropout_fwd.wgsl and
// dropout_bwd.wgsl (Accumulate unused by the first).
type dropoutParams struct {
	N, Row, Seed, Threshold uint32
	Scale                   float32
	Accumulate              uint32
}

// NewDropout builds both dropout kernels on d.
func NewDropout(d *gpu.Device) (*Dropout, error) {
	hash := []string{"dropout_hash.wgsl"}
	fwd, err := d.Kernel("dropout_fwd.wgsl", hash, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	bwd, err := d.Kernel("dropout_bwd.wgsl", hash, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Dropout{d: d, fwd: fwd, bwd: bwd}, nil
}

// Forward returns the call (ref.DropoutForward), for i < n:
//
//	out[i] = keep(seed, i) ? inp[i] * float32(1/(1-p)) : 0
//	keep(seed, i) = ref.DropoutHash(seed, i) >= ref.DropoutThreshold(p)
//
// p is the drop probability, in [0, 1); p = 0 copies inp. Use a fresh seed
// per step and per dropout site. out must not be inp.
func (dp *Dropout) Forward(out, inp *gpu.Buffer, n int, p float64, seed uint32) (*gpu.Call, error) {
	return dp.call(dp.fwd, n, p, seed, false, inp, out)
}

// Backward returns the call of Forward's backward pass
// (ref.DropoutBackward), for i < n:
//
//	dinp[i] (+)= keep(seed, i) ? dout[i] * float32(1/(1-p)) : 0
//
// with the forward's seed and p, which redraw its mask. accumulate adds the
// gradient to dinp, otherwise it is overwritten. dinp must not be dout.
func (dp *Dropout) Backward(dinp, dout *gpu.Buffer, n int, p float64, seed uint32, accumulate bool) (*gpu.Call, error) {
	return dp.call(dp.bwd, n, p, seed, accumulate, dout, dinp)
}

// Reseed changes the drop probability and seed of a call made by Forward
// or Backward (n and accumulate as given there) without a new bind group:
// a fresh mask every step, and p = 0 (identity) for evaluation.
func (dp *Dropout) Reseed(c *gpu.Call, n int, p float64, seed uint32, accumulate bool) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("ops: %s: drop probability %g is outside [0, 1)", c.Kernel.Name, p)
	}
	_, row, err := flatGrid(dp.d, n, elemWG)
	if err != nil {
		return err
	}
	return c.SetParams(dropoutParams{N: uint32(n), Row: row, Seed: seed, Threshold: ref.DropoutThreshold(p),
		Scale: float32(1 / (1 - p)), Accumulate: flag(accumulate)})
}

func (dp *Dropout) call(k *gpu.Kernel, n int, p float64, seed uint32, accumulate bool, in, out *gpu.Buffer) (*gpu.Call, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("ops: %s: drop probability %g is outside [0, 1)", k.Name, p)
	}
	if err := needFloats(k.Name, n, in, out); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(dp.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	params := dropoutParams{
		N: uint32(n), Row: row, Seed: seed, Threshold: ref.DropoutThreshold(p),
		Scale: float32(1 / (1 - p)), Accumulate: flag(accumulate),
	}
	return k.Call(grid, params, in, out)
}

// dropoutInput is one input of a dropout case.
type dropoutInput struct {
	n    int
	p    float64
	seed uint32
}

func (in dropoutInput) String() string { return fmt.Sprintf("n=%d p=%g seed=%#x", in.n, in.p, in.seed) }

// dropoutCases check the masks and values against ref bit for bit:
// the hash is integer arithmetic and the rest one f32 multiply (Exact),
// plus, accumulating, one add that a compiler may fuse with it (mulAddTol).
// The inputs are never 0, so the forward's zeros are exactly its dropped
// elements and Exact values prove equal masks. p = 0 must copy its input
// exactly; seeds cover 0, consecutive values and 2^32-1.
func dropoutCases() []Case {
	inputs := []dropoutInput{
		{1, 0.5, 0}, {37, 0.1, 1}, {1000, 0.1, 2}, {1000, 0.5, 0xFFFFFFFF},
		{65537, 0.9, 12345}, {257, 0, 7}, {2048 + 3, 0, 0xFFFFFFFF},
	}
	return []Case{
		{"dropout/fwd-bwd-masks/overwrite", func(d *gpu.Device) error { return checkDropout(d, inputs, false) }},
		{"dropout/fwd-bwd-masks/accumulate", func(d *gpu.Device) error { return checkDropout(d, inputs, true) }},
	}
}

func checkDropout(d *gpu.Device, inputs []dropoutInput, accumulate bool) error {
	dp, err := NewDropout(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "dropout")
	var outs, grads []*Guarded
	defer func() { freeGuardeds(outs); freeGuardeds(grads) }()
	var wantOut, wantGrad [][]float32
	var inps [][]float32
	for i, in := range inputs {
		g := newSeeded(uint64(2700 + i))
		inp, dout := g.next(in.n, 1), g.next(in.n, 1)
		for j, v := range inp { // in [-2, -1) or [1, 2): never 0
			inp[j] = float32(math.Copysign(1, float64(v))) + v
		}
		init, dinp := accumulateInit(uint64(2800+i), in.n, accumulate)
		bufs, err := inputBuffers(d, in.String(), inp, dout)
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		out, err := NewGuarded(d, "dropout "+in.String(), in.n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		grad, err := NewGuarded(d, "dropout dinp "+in.String(), in.n, init)
		if err != nil {
			return err
		}
		grads = append(grads, grad)
		rec.dispatch(dp.Forward(out.View, bufs[0], in.n, in.p, in.seed))
		rec.dispatch(dp.Backward(grad.View, bufs[1], in.n, in.p, in.seed, accumulate))
		o := make([]float32, in.n)
		ref.DropoutForward(o, inp, in.seed, in.p)
		ref.DropoutBackward(dinp, dout, in.seed, in.p)
		wantOut, wantGrad, inps = append(wantOut, o), append(wantGrad, dinp), append(inps, inp)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	if err := checkGuardeds(outs, wantOut, Exact); err != nil {
		return err
	}
	tol := Exact
	if accumulate {
		tol = mulAddTol
	}
	if err := checkGuardeds(grads, wantGrad, tol); err != nil {
		return err
	}
	for i, in := range inputs {
		if in.p != 0 {
			continue
		}
		got, err := outs[i].Read()
		if err != nil {
			return err
		}
		if err := Close("dropout p=0 is the identity: "+in.String(), got, inps[i], Exact); err != nil {
			return err
		}
	}
	return nil
}
