package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Activation launches the f32 activation kernels gelu_fwd.wgsl and
// swiglu_fwd.wgsl. The kernels are built once, in NewActivation; each
// method only binds buffers into a Call to record.
type Activation struct {
	d            *gpu.Device
	gelu, swiglu *gpu.Kernel
}

// NewActivation builds the activation kernels on d.
func NewActivation(d *gpu.Device) (*Activation, error) {
	gelu, err := d.Kernel("gelu_fwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	swiglu, err := d.Kernel("swiglu_fwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Activation{d: d, gelu: gelu, swiglu: swiglu}, nil
}

// Gelu returns the call out[i] = gelu(inp[i]) for i < n, GELU in its tanh
// form (ref.GeluForward). out must not be inp.
func (a *Activation) Gelu(out, inp *gpu.Buffer, n int) (*gpu.Call, error) {
	if err := needFloats(a.gelu.Name, n, out, inp); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(a.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return a.gelu.Call(grid, elemParams{N: uint32(n), Row: row}, inp, out)
}

// SwiGLU returns the call out[i] = silu(gate[i]) * up[i] for i < n
// (ref.SwiGLUForward). out must be neither gate nor up.
func (a *Activation) SwiGLU(out, gate, up *gpu.Buffer, n int) (*gpu.Call, error) {
	if err := needFloats(a.swiglu.Name, n, out, gate, up); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(a.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return a.swiglu.Call(grid, elemParams{N: uint32(n), Row: row}, gate, up, out)
}

// actTol: exp and division are a few ulp in WGSL, and the f32 exponent's
// rounding grows with |x| (relative error ~ |x| * 2^-24 in exp); Abs covers
// the tiny outputs of negative inputs.
var actTol = Tol{Abs: 1e-6, Rel: 1e-5}

// actSize is one input of an activation case: n values in [-spread, spread).
type actSize struct {
	n      int
	spread float32
}

func (s actSize) String() string { return fmt.Sprintf("n=%d spread %g", s.n, s.spread) }

// actSizes: odd sizes up to a 37x576 activation; spread 20 and 100 reach
// the clamped exponent and the far tails of both functions.
var actSizes = []actSize{{1, 4}, {3, 4}, {37, 4}, {257, 4}, {2048, 6}, {576 * 37, 4}, {1000, 20}, {1000, 100}}

func checkGelu(d *gpu.Device, sizes []actSize) error {
	a, err := NewActivation(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "gelu")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(sizes))
	for i, s := range sizes {
		x := seededF32(uint64(400+i), s.n, s.spread)
		bx, err := inputBuffer(d, "x "+s.String(), x)
		if err != nil {
			return err
		}
		defer bx.Free()
		out, err := NewGuarded(d, "gelu "+s.String(), s.n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(a.Gelu(out.View, bx, s.n))
		o64 := make([]float64, s.n)
		ref.GeluForward(o64, normF64(x))
		want[i] = normF32(o64)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, actTol)
}

func checkSwiGLU(d *gpu.Device, sizes []actSize) error {
	a, err := NewActivation(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "swiglu")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(sizes))
	for i, s := range sizes {
		g := seededF32(uint64(500+i), s.n, s.spread)
		u := seededF32(uint64(600+i), s.n, 2)
		bg, err := inputBuffer(d, "gate "+s.String(), g)
		if err != nil {
			return err
		}
		defer bg.Free()
		bu, err := inputBuffer(d, "up "+s.String(), u)
		if err != nil {
			return err
		}
		defer bu.Free()
		out, err := NewGuarded(d, "swiglu "+s.String(), s.n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(a.SwiGLU(out.View, bg, bu, s.n))
		o64 := make([]float64, s.n)
		ref.SwiGLUForward(o64, normF64(g), normF64(u))
		want[i] = normF32(o64)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, actTol)
}
