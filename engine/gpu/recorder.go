package gpu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/cogentcore/webgpu/wgpu"
)

// Grid is a dispatch size in workgroups.
type Grid struct{ X, Y, Z uint32 }

// Call is a kernel bound to its buffers and parameters, with a grid: one
// dispatch, made once and recorded as often as needed.
type Call struct {
	Kernel *Kernel
	Grid   Grid

	group  *wgpu.BindGroup
	params *Buffer // uniform buffer holding the Params struct, or nil
}

// Free releases the call's parameter buffer and bind group. A program
// that builds calls per shape frees them with its activations.
func (c *Call) Free() {
	if c == nil || c.group == nil {
		return
	}
	c.params.Free()
	c.group.Release()
	c.group = nil
}

// Call binds bufs (one per storage binding, in order) and params (a struct
// of fixed-size fields, written little-endian into the kernel's Uniform
// binding; nil when the kernel has none) for a dispatch over grid.
func (k *Kernel) Call(grid Grid, params any, bufs ...*Buffer) (*Call, error) {
	d := k.d
	if err := k.checkCall(grid, params, bufs); err != nil {
		return nil, err
	}
	c := &Call{Kernel: k, Grid: grid}
	entries := make([]wgpu.BindGroupEntry, len(k.Bindings))
	for i, b := range bufs {
		entries[i] = wgpu.BindGroupEntry{Binding: uint32(i), Buffer: b.buf, Offset: b.off, Size: b.Size}
	}
	if params != nil {
		raw, err := encodeParams(params)
		if err != nil {
			return nil, fmt.Errorf("gpu: kernel %s: params: %w", k.Name, err)
		}
		c.params, err = d.newBuffer(k.Name+".params", uint64(len(raw)), wgpu.BufferUsageUniform|wgpu.BufferUsageCopyDst)
		if err != nil {
			return nil, err
		}
		if err := c.params.Upload(0, raw); err != nil {
			return nil, err
		}
		i := len(bufs)
		entries[i] = wgpu.BindGroupEntry{Binding: uint32(i), Buffer: c.params.buf, Size: c.params.Size}
	}
	err := d.scoped(func() (err error) {
		c.group, err = d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: k.Name, Layout: k.layout, Entries: entries})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: kernel %s: binding %s: %w", k.Name, bufNames(bufs), err)
	}
	return c, nil
}

func (k *Kernel) checkCall(grid Grid, params any, bufs []*Buffer) error {
	want := len(k.Bindings)
	hasUniform := want > 0 && k.Bindings[want-1] == Uniform
	if hasUniform {
		want--
	}
	if len(bufs) != want {
		return fmt.Errorf("gpu: kernel %s takes %d storage buffers, got %d (%s)", k.Name, want, len(bufs), bufNames(bufs))
	}
	if hasUniform != (params != nil) {
		return fmt.Errorf("gpu: kernel %s: params given = %v, but the kernel's Uniform binding exists = %v",
			k.Name, params != nil, hasUniform)
	}
	lim := k.d.Limits
	for i, b := range bufs {
		if b == nil {
			return fmt.Errorf("gpu: kernel %s: binding %d is nil", k.Name, i)
		}
		if err := b.usable(); err != nil {
			return fmt.Errorf("gpu: kernel %s: binding %d: %w", k.Name, i, err)
		}
		if b.Size > lim.MaxStorageBufferBindingSize {
			return fmt.Errorf("gpu: kernel %s: binding %d (%q, %d bytes) is over the device's storage binding limit of %d bytes; split it by rows",
				k.Name, i, b.Label, b.Size, lim.MaxStorageBufferBindingSize)
		}
	}
	for _, n := range []uint32{grid.X, grid.Y, grid.Z} {
		if n == 0 || n > lim.MaxComputeWorkgroupsPerDimension {
			return fmt.Errorf("gpu: kernel %s: grid %v: each dimension must be 1..%d (use a 2-D grid for more)",
				k.Name, grid, lim.MaxComputeWorkgroupsPerDimension)
		}
	}
	return nil
}

// SetParams rewrites the call's parameters; the write is queued before the
// next submit.
func (c *Call) SetParams(params any) error {
	raw, err := encodeParams(params)
	if err != nil || c.params == nil || uint64(len(raw)) != c.params.Size {
		return fmt.Errorf("gpu: kernel %s: SetParams: parameters do not match the call's (%v)", c.Kernel.Name, err)
	}
	return c.params.Upload(0, raw)
}

// encodeParams lays a struct of u32/i32/f32 fields out as WGSL does for a
// uniform struct of scalars, padded to 16 bytes.
func encodeParams(p any) ([]byte, error) {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, p); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return append(raw, make([]byte, int(align(uint64(len(raw)), 16))-len(raw))...), nil
}

func bufNames(bufs []*Buffer) string {
	s := make([]string, len(bufs))
	for i, b := range bufs {
		if b == nil {
			s[i] = "nil"
		} else {
			s[i] = b.Label
		}
	}
	return strings.Join(s, ", ")
}

// Recorder collects dispatches and copies and submits them as one command
// encoder (consecutive dispatches share one compute pass) in one submit.
// A Recorder may be submitted again: the same program replays.
type Recorder struct {
	Label string
	d     *Device
	ops   []op
}

type op struct {
	call *Call
	// a copy when call is nil
	src, dst       *Buffer
	srcOff, dstOff uint64
	size           uint64
}

// NewRecorder starts an empty program.
func (d *Device) NewRecorder(label string) *Recorder { return &Recorder{Label: label, d: d} }

// Dispatch appends a call.
func (r *Recorder) Dispatch(c *Call) { r.ops = append(r.ops, op{call: c}) }

// Copy appends a buffer-to-buffer copy of size bytes.
func (r *Recorder) Copy(src *Buffer, srcOff uint64, dst *Buffer, dstOff, size uint64) {
	r.ops = append(r.ops, op{src: src, srcOff: srcOff, dst: dst, dstOff: dstOff, size: size})
}

// Len is the number of recorded operations.
func (r *Recorder) Len() int { return len(r.ops) }

// Reset forgets everything recorded.
func (r *Recorder) Reset() { r.ops = r.ops[:0] }

// Submit encodes everything recorded and submits it once. It does not wait
// for the GPU: a later Read (or Device.Wait) does.
func (r *Recorder) Submit() error {
	d := r.d
	var cmd *wgpu.CommandBuffer
	dispatches := 0
	err := d.scoped(func() error {
		enc, err := d.dev.CreateCommandEncoder(&wgpu.CommandEncoderDescriptor{Label: r.Label})
		if err != nil {
			return err
		}
		defer enc.Release()
		var pass *wgpu.ComputePassEncoder
		endPass := func() error {
			if pass == nil {
				return nil
			}
			err := endPass(pass)
			pass.Release()
			pass = nil
			return err
		}
		for _, o := range r.ops {
			if o.call == nil {
				if err := endPass(); err != nil {
					return err
				}
				if err := enc.CopyBufferToBuffer(o.src.buf, o.src.off+o.srcOff, o.dst.buf, o.dst.off+o.dstOff, o.size); err != nil {
					return err
				}
				continue
			}
			if pass == nil {
				pass = enc.BeginComputePass(nil)
			}
			c := o.call
			pass.SetPipeline(c.Kernel.pipeline)
			pass.SetBindGroup(0, c.group, nil)
			pass.DispatchWorkgroups(c.Grid.X, c.Grid.Y, c.Grid.Z)
			dispatches++
		}
		if err := endPass(); err != nil {
			return err
		}
		cmd, err = enc.Finish(nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("gpu: recorder %q (%s): %w", r.Label, r.kernelNames(), err)
	}
	defer cmd.Release()
	err = d.scoped(func() error {
		d.queue.Submit(cmd)
		return nil
	})
	if err != nil {
		return fmt.Errorf("gpu: recorder %q (%s): submit: %w", r.Label, r.kernelNames(), err)
	}
	d.count(func(s *Stats) { s.Submits++; s.Dispatches += dispatches })
	return nil
}

func (r *Recorder) kernelNames() string {
	seen := map[string]bool{}
	var names []string
	for _, o := range r.ops {
		if o.call != nil && !seen[o.call.Kernel.Name] {
			seen[o.call.Kernel.Name] = true
			names = append(names, o.call.Kernel.Name)
		}
	}
	if len(names) == 0 {
		return "copies only"
	}
	return "kernels " + strings.Join(names, ", ")
}

// Wait blocks until all submitted work has finished.
func (d *Device) Wait() error {
	var done atomic.Bool
	if err := d.Lost(); err != nil {
		return err
	}
	d.queue.OnSubmittedWorkDone(func(wgpu.QueueWorkDoneStatus) { done.Store(true) })
	return d.wait(done.Load)
}
