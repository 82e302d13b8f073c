package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Elementwise launches the f32 elementwise kernels (add_fwd, mul_fwd,
// scale_fwd). The kernels are built once, in NewElementwise; each method
// only binds buffers into a Call to record.
type Elementwise struct {
	d               *gpu.Device
	add, mul, scale *gpu.Kernel
}

// elemWG is the workgroup size (const WG) of the elementwise shaders.
const elemWG = 256

// elemParams is the Params struct of add_fwd.wgsl and mul_fwd.wgsl.
type elemParams struct {
	N   uint32 // number of elements
	Row uint32 // elements per grid row (see flatGrid)
}

// scaleParams is the Params struct of scale_fwd.wgsl.
type scaleParams struct {
	N, Row uint32
	S      float32
}

// NewElementwise builds the elementwise kernels on d.
func NewElementwise(d *gpu.Device) (*Elementwise, error) {
	binary := []gpu.Access{gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform}
	add, err := d.Kernel("add_fwd.wgsl", nil, binary...)
	if err != nil {
		return nil, err
	}
	mul, err := d.Kernel("mul_fwd.wgsl", nil, binary...)
	if err != nil {
		return nil, err
	}
	scale, err := d.Kernel("scale_fwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Elementwise{d: d, add: add, mul: mul, scale: scale}, nil
}

// Add returns the call out[i] = a[i] + b[i] for i < n (ref.Add).
func (e *Elementwise) Add(out, a, b *gpu.Buffer, n int) (*gpu.Call, error) {
	return e.binary(e.add, out, a, b, n)
}

// Mul returns the call out[i] = a[i] * b[i] for i < n (ref.Mul).
func (e *Elementwise) Mul(out, a, b *gpu.Buffer, n int) (*gpu.Call, error) {
	return e.binary(e.mul, out, a, b, n)
}

// Scale returns the call out[i] = s * a[i] for i < n (ref.Scale).
func (e *Elementwise) Scale(out, a *gpu.Buffer, s float32, n int) (*gpu.Call, error) {
	if err := needFloats(e.scale.Name, n, out, a); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(e.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return e.scale.Call(grid, scaleParams{N: uint32(n), Row: row, S: s}, a, out)
}

func (e *Elementwise) binary(k *gpu.Kernel, out, a, b *gpu.Buffer, n int) (*gpu.Call, error) {
	if err := needFloats(k.Name, n, out, a, b); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(e.d, n, elemWG)
	if err != nil {
		return nil, err
	}
	return k.Call(grid, elemParams{N: uint32(n), Row: row}, a, b, out)
}

// elementwiseCases check add, mul and scale against ref bit for bit: each
// is one correctly rounded IEEE f32 operation on both sides (Exact).
func elementwiseCases() []Case {
	var cases []Case
	for _, n := range []int{1, 3, 37, 257} {
		cases = append(cases, Case{
			Name: fmt.Sprintf("elementwise/add-mul-scale/n=%d", n),
			Run:  func(d *gpu.Device) error { return checkElementwise(d, n) },
		})
	}
	// One more than 65535 workgroups of 256: the grid must go 2-D.
	const big = 65535*elemWG + 37
	cases = append(cases, Case{
		Name: fmt.Sprintf("elementwise/add/n=%d-2d-grid", big),
		Run:  func(d *gpu.Device) error { return checkBigAdd(d, big) },
	})
	return cases
}

// checkElementwise records a+b, a*b, s*a and (a+b)*a, the last reading the
// first's output, as one submit, and compares all four with ref.
func checkElementwise(d *gpu.Device, n int) error {
	const s = -1.7 // not a power of two, so the product rounds
	a, b := seededF32(1, n, 2), seededF32(2, n, 2)
	e, err := NewElementwise(d)
	if err != nil {
		return err
	}
	ba, err := inputBuffer(d, "a", a)
	if err != nil {
		return err
	}
	defer ba.Free()
	bb, err := inputBuffer(d, "b", b)
	if err != nil {
		return err
	}
	defer bb.Free()
	outs, err := newGuardeds(d, n, "a+b", "a*b", "s*a", "(a+b)*a")
	if err != nil {
		return err
	}
	defer freeGuardeds(outs)
	sum, prod, scaled, chain := outs[0].View, outs[1].View, outs[2].View, outs[3].View

	rec := newRecording(d, fmt.Sprintf("elementwise n=%d", n))
	rec.dispatch(e.Add(sum, ba, bb, n))
	rec.dispatch(e.Mul(prod, ba, bb, n))
	rec.dispatch(e.Scale(scaled, ba, s, n))
	rec.dispatch(e.Mul(chain, sum, ba, n))
	if err := rec.submit(); err != nil {
		return err
	}

	want := make([][]float32, 4)
	for i := range want {
		want[i] = make([]float32, n)
	}
	ref.Add(want[0], a, b)
	ref.Mul(want[1], a, b)
	ref.Scale(want[2], a, s)
	ref.Mul(want[3], want[0], a)
	return checkGuardeds(outs, want, Exact)
}

// checkBigAdd adds two 64 MiB vectors. Inputs are generated, uploaded and
// checked in 1 Mi-element chunks (regenerated from their seeds) so that the
// host never holds more than the read-back result at once: the same case
// runs in a browser tab.
func checkBigAdd(d *gpu.Device, n int) error {
	e, err := NewElementwise(d)
	if err != nil {
		return err
	}
	ba, err := d.NewBuffer("a", 4*uint64(n))
	if err != nil {
		return err
	}
	defer ba.Free()
	bb, err := d.NewBuffer("b", 4*uint64(n))
	if err != nil {
		return err
	}
	defer bb.Free()
	out, err := NewGuarded(d, "a+b", n, nil)
	if err != nil {
		return err
	}
	defer out.Free()
	const chunk = 1 << 20
	ga, gb := newSeeded(3), newSeeded(4)
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		if err := ba.UploadF32(off, ga.next(m, 2)); err != nil {
			return err
		}
		if err := bb.UploadF32(off, gb.next(m, 2)); err != nil {
			return err
		}
	}

	c, err := e.Add(out.View, ba, bb, n)
	if err != nil {
		return err
	}
	if c.Grid.Y < 2 {
		return fmt.Errorf("grid %v for %d elements is not 2-D; the case tests nothing", c.Grid, n)
	}
	r := d.NewRecorder("big add")
	r.Dispatch(c)
	if err := r.Submit(); err != nil {
		return err
	}
	got, err := out.Read()
	if err != nil {
		return err
	}
	ga, gb = newSeeded(3), newSeeded(4)
	want := make([]float32, chunk)
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		ref.Add(want[:m], ga.next(m, 2), gb.next(m, 2))
		if err := Close(fmt.Sprintf("a+b[%d:]", off), got[off:off+m], want[:m], Exact); err != nil {
			return err
		}
	}
	return nil
}
