package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// ActivationBackward launches the backward passes of the f32 activations,
// gelu_bwd.wgsl and swiglu_bwd.wgsl, one invocation per element. The
// kernels are built once, in NewActivationBackward.
type ActivationBackward struct {
	d            *gpu.Device
	gelu, swiglu *gpu.Kernel
}

// NewActivationBackward builds the activation backward kernels on d.
func NewActivationBackward(d *gpu.Device) (*ActivationBackward, error) {
	gelu, err := d.Kernel("gelu_bwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	swiglu, err := d.Kernel("swiglu_bwd.wgsl", nil, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &ActivationBackward{d: d, gelu: gelu, swiglu: swiglu}, nil
}

// Gelu returns the call of Activation.Gelu's backward pass
// (ref.GeluBackward), for i < n:
//
//	dinp[i] (+)= dout[i] * gelu'(inp[i])
//
// inp is the forward's input. accumulate adds the gradient to dinp,
// otherwise it is overwritten. dinp must be neither inp nor dout.
func (a *ActivationBackward) Gelu(dinp, inp, dout *gpu.Buffer, n int, accumulate bool) (*gpu.Call, error) {
	return elementwiseGrad(a.d, a.gelu, n, accumulate, []*gpu.Buffer{inp, dout}, dinp)
}

// SwiGLU returns the call of Activation.SwiGLU's backward pass
// (ref.SwiGLUBackward), for i < n, with sig = sigmoid(gate[i]):
//
//	dgate[i] (+)= dout[i] * up[i] * sig * (1 + gate[i] * (1 - sig))
//	dup[i]   (+)= dout[i] * silu(gate[i])
//
// gate and up are the forward's inputs. accumulate adds the gradients to
// dgate and dup, otherwise they are overwritten. No output may be an input,
// and dgate must not be dup.
func (a *ActivationBackward) SwiGLU(dgate, dup, gate, up, dout *gpu.Buffer, n int, accumulate bool) (*gpu.Call, error) {
	return elementwiseGrad(a.d, a.swiglu, n, accumulate, []*gpu.Buffer{gate, up, dout}, dgate, dup)
}

// elementwiseGrad returns the call of an elementwise backward kernel k
// (Params gradParams) over n elements: inputs, then outputs, all n float32s.
func elementwiseGrad(d *gpu.Device, k *gpu.Kernel, n int, accumulate bool, inputs []*gpu.Buffer, outputs ...*gpu.Buffer) (*gpu.Call, error) {
	bufs := append(inputs[:len(inputs):len(inputs)], outputs...)
	if err := needFloats(k.Name, n, bufs...); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return k.Call(grid, gradParams{N: uint32(n), Row: row, Accumulate: flag(accumulate)}, bufs...)
}

// actBwdTol: the derivatives are a few f32 operations on exp (a few ulp in
// WGSL), whose argument's rounding grows with |x|; Abs covers the tiny
// gradients of the negative tails, where the terms nearly cancel.
var actBwdTol = Tol{Abs: 1e-6, Rel: 1e-5}

// actBackwardCases check the GELU and SwiGLU backward passes against
// their ref twins in float64 within actBwdTol, on actSizes (odd sizes, and
// spreads of 20 and 100 that reach the clamped exponent), with and without
// accumulate.
func actBackwardCases() []Case {
	var cases []Case
	for _, acc := range []bool{false, true} {
		cases = append(cases,
			Case{"gelu-bwd/odd-sizes-and-large-magnitudes/" + accumulateName(acc),
				func(d *gpu.Device) error { return checkGeluBackward(d, actSizes, acc) }},
			Case{"swiglu-bwd/odd-sizes-and-large-magnitudes/" + accumulateName(acc),
				func(d *gpu.Device) error { return checkSwiGLUBackward(d, actSizes, acc) }})
	}
	return cases
}

func checkGeluBackward(d *gpu.Device, sizes []actSize, accumulate bool) error {
	a, err := NewActivationBackward(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "gelu backward")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(sizes))
	for i, s := range sizes {
		x := seededF32(uint64(1200+i), s.n, s.spread)
		dout := seededF32(uint64(1300+i), s.n, 1)
		init, w := accumulateInit(uint64(1400+i), s.n, accumulate)
		bufs, err := inputBuffers(d, s.String(), x, dout)
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		out, err := NewGuarded(d, "gelu dinp "+s.String(), s.n, init)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(a.Gelu(out.View, bufs[0], bufs[1], s.n, accumulate))
		g64 := normF64(w)
		ref.GeluBackward(g64, normF64(x), normF64(dout))
		want[i] = normF32(g64)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, actBwdTol)
}

func checkSwiGLUBackward(d *gpu.Device, sizes []actSize, accumulate bool) error {
	a, err := NewActivationBackward(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "swiglu backward")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range sizes {
		g := seededF32(uint64(1500+i), s.n, s.spread)
		u := seededF32(uint64(1600+i), s.n, 2)
		dout := seededF32(uint64(1700+i), s.n, 1)
		initG, wantG := accumulateInit(uint64(1800+i), s.n, accumulate)
		initU, wantU := accumulateInit(uint64(1900+i), s.n, accumulate)
		bufs, err := inputBuffers(d, s.String(), g, u, dout)
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		dgate, err := NewGuarded(d, "swiglu dgate "+s.String(), s.n, initG)
		if err != nil {
			return err
		}
		outs = append(outs, dgate)
		dup, err := NewGuarded(d, "swiglu dup "+s.String(), s.n, initU)
		if err != nil {
			return err
		}
		outs = append(outs, dup)
		rec.dispatch(a.SwiGLU(dgate.View, dup.View, bufs[0], bufs[1], bufs[2], s.n, accumulate))
		dg64, du64 := normF64(wantG), normF64(wantU)
		ref.SwiGLUBackward(dg64, du64, normF64(g), normF64(u), normF64(dout))
		want = append(want, normF32(dg64), normF32(du64))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, actBwdTol)
}

// inputBuffers uploads each of vs into a new buffer labelled by its
// position and what.
func inputBuffers(d *gpu.Device, what string, vs ...[]float32) ([]*gpu.Buffer, error) {
	var bufs []*gpu.Buffer
	for i, v := range vs {
		b, err := inputBuffer(d, fmt.Sprintf("input %d %s", i, what), v)
		if err != nil {
			freeBuffers(bufs)
			return nil, err
		}
		bufs = append(bufs, b)
	}
	return bufs, nil
}

func freeBuffers(bufs []*gpu.Buffer) {
	for _, b := range bufs {
		b.Free()
	}
}
