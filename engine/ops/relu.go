package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// ReLU launches relu_fwd.wgsl and relu_bwd.wgsl, the nonlinearity of
// bottleneck adapters, one invocation per element. The kernels are built
// once, in NewReLU.
type ReLU struct {
	d        *gpu.Device
	fwd, bwd *gpu.Kernel
}

// NewReLU builds both ReLU kernels on d.
func NewReLU(d *gpu.Device) (*ReLU, error) {
	fwd, err := d.Kernel("relu_fwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	bwd, err := d.Kernel("relu_bwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &ReLU{d: d, fwd: fwd, bwd: bwd}, nil
}

// Forward returns the call out[i] = max(inp[i], 0) for i < n
// (ref.ReLUForward). out must not be inp.
func (r *ReLU) Forward(out, inp *gpu.Buffer, n int) (*gpu.Call, error) {
	if err := needFloats(r.fwd.Name, n, out, inp); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(r.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return r.fwd.Call(grid, elemParams{N: uint32(n), Row: row}, inp, out)
}

// Backward returns the call dinp[i] (+)= (inp[i] > 0 ? dout[i] : 0) for
// i < n (ref.ReLUBackward); inp is the forward's input. accumulate adds the
// gradient to dinp, otherwise it is overwritten. dinp must be neither inp
// nor dout.
func (r *ReLU) Backward(dinp, inp, dout *gpu.Buffer, n int, accumulate bool) (*gpu.Call, error) {
	return elementwiseGrad(r.d, r.bwd, n, accumulate, []*gpu.Buffer{inp, dout}, dinp)
}

// reluCases check both passes against ref bit for bit (Exact): a max, a
// select and at most one f32 addition, correctly rounded on both sides.
// The inputs are small integers, so exact zeros (no derivative; 0) occur.
func reluCases() []Case {
	var cases []Case
	for _, acc := range []bool{false, true} {
		cases = append(cases, Case{
			Name: "relu/fwd-bwd-odd-sizes/" + accumulateName(acc),
			Run:  func(d *gpu.Device) error { return checkReLU(d, []int{1, 3, 37, 257, 2048 + 37}, acc) },
		})
	}
	return cases
}

func checkReLU(d *gpu.Device, sizes []int, accumulate bool) error {
	r, err := NewReLU(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "relu")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, n := range sizes {
		g := newSeeded(uint64(2000 + i))
		x, dout := g.ints(n, 3), g.next(n, 1)
		init, dinp := accumulateInit(uint64(2100+i), n, accumulate)
		bufs, err := inputBuffers(d, fmt.Sprintf("n=%d", n), x, dout)
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		out, err := NewGuarded(d, fmt.Sprintf("relu n=%d", n), n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		grad, err := NewGuarded(d, fmt.Sprintf("relu dinp n=%d", n), n, init)
		if err != nil {
			return err
		}
		outs = append(outs, grad)
		rec.dispatch(r.Forward(out.View, bufs[0], n))
		rec.dispatch(r.Backward(grad.View, bufs[0], bufs[1], n, accumulate))
		o := make([]float32, n)
		ref.ReLUForward(o, x)
		ref.ReLUBackward(dinp, x, dout)
		want = append(want, o, dinp)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, Exact)
}
