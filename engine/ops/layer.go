package ops

import (
	"errors"
	"fmt"
	"strings"

	"webpeft/engine/gpu"
)

// layerCases check the GPU layer itself: one submit for a whole program,
// and clear errors for bad input. They run natively and in the browser.
func layerCases() []Case {
	return []Case{
		{"gpu/100-dispatches-one-submit", checkOneSubmit},
		{"gpu/bad-wgsl-names-file-and-line", checkBadWGSL},
		{"gpu/buffer-over-limit", checkBufferOverLimit},
		{"gpu/wrong-binding", checkWrongBinding},
	}
}

// checkOneSubmit records 100 dependent dispatches (ping-pong x += b) and
// proves they cost exactly one submit and no readback until the result is
// read once at the end.
func checkOneSubmit(d *gpu.Device) error {
	const n, steps = 1000, 100
	e, err := NewElementwise(d)
	if err != nil {
		return err
	}
	x0, b, x1, err := newBuffers3(d, n)
	if err != nil {
		return err
	}
	defer x0.Free()
	defer b.Free()
	defer x1.Free()
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	if err := b.UploadF32(0, ones); err != nil {
		return err
	}
	fwd, err := e.Add(x1, x0, b, n)
	if err != nil {
		return err
	}
	back, err := e.Add(x0, x1, b, n)
	if err != nil {
		return err
	}
	r := d.NewRecorder("100 adds")
	for i := 0; i < steps/2; i++ {
		r.Dispatch(fwd)
		r.Dispatch(back)
	}
	before := d.Stats()
	if err := r.Submit(); err != nil {
		return err
	}
	after := d.Stats()
	if s, dsp, rd := after.Submits-before.Submits, after.Dispatches-before.Dispatches, after.Reads-before.Reads; s != 1 || dsp != steps || rd != 0 {
		return fmt.Errorf("recording %d dispatches cost %d submits, %d dispatches, %d reads; want 1, %d, 0", steps, s, dsp, rd, steps)
	}
	got, err := x0.ReadF32(n)
	if err != nil {
		return err
	}
	want := make([]float32, n)
	for i := range want {
		want[i] = steps
	}
	return Close("x after 100 adds", got, want, Exact)
}

func newBuffers3(d *gpu.Device, n int) (a, b, c *gpu.Buffer, err error) {
	if a, err = d.NewBuffer("a", uint64(4*n)); err != nil {
		return
	}
	if b, err = d.NewBuffer("b", uint64(4*n)); err != nil {
		return
	}
	c, err = d.NewBuffer("c", uint64(4*n))
	return
}

// checkBadWGSL: a compile error names the file and the line.
func checkBadWGSL(d *gpu.Device) error {
	src := "// a kernel with a typo on line 4\n@compute @workgroup_size(1)\nfn main() {\n    let x = undefined_thing;\n}\n"
	_, err := d.CompileKernel("typo.wgsl", src)
	if err == nil {
		return errors.New("WGSL with an undefined identifier compiled")
	}
	if !strings.Contains(err.Error(), "typo.wgsl:4:") {
		return fmt.Errorf("compile error does not name typo.wgsl:4: %v", err)
	}
	return nil
}

// checkBufferOverLimit: asking for more than maxBufferSize is refused with
// the limit named, before WebGPU sees it.
func checkBufferOverLimit(d *gpu.Device) error {
	_, err := d.NewBuffer("huge", d.Limits.MaxBufferSize+4)
	if err == nil {
		return errors.New("a buffer over maxBufferSize was created")
	}
	if !strings.Contains(err.Error(), "maxBufferSize") {
		return fmt.Errorf("error does not name the limit: %v", err)
	}
	return nil
}

// checkWrongBinding: too few buffers, and a layout that contradicts the
// shader, are errors that name the kernel.
func checkWrongBinding(d *gpu.Device) error {
	k, err := d.Kernel("add_fwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return err
	}
	a, b, _, err := newBuffers3(d, 4)
	if err != nil {
		return err
	}
	defer a.Free()
	defer b.Free()
	_, err = k.Call(gpu.Grid{X: 1, Y: 1, Z: 1}, elemParams{4, 256}, a, b)
	if err == nil || !strings.Contains(err.Error(), "add_fwd.wgsl") {
		return fmt.Errorf("a call with 2 of 3 buffers: got %v, want an error naming add_fwd.wgsl", err)
	}
	// The shader writes binding 2; declaring it read-only must fail.
	_, err = d.Kernel("add_fwd.wgsl", nil, gpu.Read, gpu.Read, gpu.Read, gpu.Uniform)
	if err == nil || !strings.Contains(err.Error(), "add_fwd.wgsl") {
		return fmt.Errorf("a read-only layout for a written binding: got %v, want an error naming add_fwd.wgsl", err)
	}
	return nil
}
