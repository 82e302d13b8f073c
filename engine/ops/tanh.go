package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Tanh launches tanh_fwd.wgsl and tanh_bwd.wgsl, the nonlinearity of
// prefix tuning's reparameterisation MLP, one invocation per element.
// The kernels are built once, in NewTanh.
type Tanh struct {
	d        *gpu.Device
	fwd, bwd *gpu.Kernel
}

// NewTanh builds both kernels on d.
func NewTanh(d *gpu.Device) (*Tanh, error) {
	snippet := []string{"tanh_safe.wgsl"}
	fwd, err := d.Kernel("tanh_fwd.wgsl", snippet, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	bwd, err := d.Kernel("tanh_bwd.wgsl", snippet, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Tanh{d: d, fwd: fwd, bwd: bwd}, nil
}

// Forward returns the call out[i] = tanh(inp[i]) for i < n
// (ref.TanhForward). out must not be inp.
func (k *Tanh) Forward(out, inp *gpu.Buffer, n int) (*gpu.Call, error) {
	if err := needFloats(k.fwd.Name, n, out, inp); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(k.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return k.fwd.Call(grid, elemParams{N: uint32(n), Row: row}, inp, out)
}

// Backward returns the call dinp[i] (+)= dout[i] * (1 - tanh(inp[i])^2)
// for i < n (ref.TanhBackward); inp is the forward's input. accumulate
// adds the gradient to dinp, otherwise it is overwritten. dinp must be
// neither inp nor dout.
func (k *Tanh) Backward(dinp, inp, dout *gpu.Buffer, n int, accumulate bool) (*gpu.Call, error) {
	return elementwiseGrad(k.d, k.bwd, n, accumulate, []*gpu.Buffer{inp, dout}, dinp)
}

// tanhTol: the kernels compute tanh through exp (or a short series near
// 0) in f32, the twin through math.Tanh in float64 rounded once; a few
// ulps of the result, and of 1 - y^2 in backward.
var tanhTol = Tol{Abs: 1e-6, Rel: 1e-5}

// tanhCases check both passes against ref, on inputs that cover the
// series branch (|x| < 0.125), the exp branch and saturation (|x| up to
// 12, where a naive tanh overflows).
func tanhCases() []Case {
	var cases []Case
	for _, acc := range []bool{false, true} {
		cases = append(cases, Case{
			Name: "tanh/fwd-bwd-odd-sizes/" + accumulateName(acc),
			Run:  func(d *gpu.Device) error { return checkTanh(d, []int{1, 3, 37, 257, 2048 + 37}, acc) },
		})
	}
	return cases
}

func checkTanh(d *gpu.Device, sizes []int, accumulate bool) error {
	k, err := NewTanh(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "tanh")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, n := range sizes {
		g := newSeeded(uint64(2200 + i))
		x, dout := g.next(n, 1), g.next(n, 1)
		for j := range x {
			x[j] *= [...]float32{0.1, 1, 12}[j%3]
		}
		init, dinp := accumulateInit(uint64(2300+i), n, accumulate)
		bufs, err := inputBuffers(d, fmt.Sprintf("n=%d", n), x, dout)
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		out, err := NewGuarded(d, fmt.Sprintf("tanh n=%d", n), n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		grad, err := NewGuarded(d, fmt.Sprintf("tanh dinp n=%d", n), n, init)
		if err != nil {
			return err
		}
		outs = append(outs, grad)
		rec.dispatch(k.Forward(out.View, bufs[0], n))
		rec.dispatch(k.Backward(grad.View, bufs[0], bufs[1], n, accumulate))
		o := make([]float32, n)
		ref.TanhForward(o, x)
		ref.TanhBackward(dinp, x, dout)
		want = append(want, o, dinp)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, tanhTol)
}
