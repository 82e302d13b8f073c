package gpu

import (
	"fmt"
	"sync/atomic"

	"github.com/cogentcore/webgpu/wgpu"
)

// Readback brings part of a buffer back to the host as a step of a
// recorded program: Recorder.ReadBack records the copy into the
// readback's own mappable buffer, so that the program's single submit
// also carries its result home, and Bytes then waits for it. A readback
// is made once and reused by every run of the program.
type Readback struct {
	staging *Buffer
	size    uint64
}

// NewReadback makes a readback of size bytes (a multiple of 4).
func (d *Device) NewReadback(label string, size uint64) (*Readback, error) {
	if size == 0 || size%4 != 0 {
		return nil, fmt.Errorf("gpu: readback %q of %d bytes: want a positive multiple of 4", label, size)
	}
	staging, err := d.newBuffer(label+".readback", size, wgpu.BufferUsageMapRead|wgpu.BufferUsageCopyDst)
	if err != nil {
		return nil, err
	}
	return &Readback{staging: staging, size: size}, nil
}

// ReadBack appends a copy of rb's size bytes of src, from offset, into rb.
func (r *Recorder) ReadBack(rb *Readback, src *Buffer, offset uint64) {
	r.Copy(src, offset, rb.staging, 0, rb.size)
}

// Bytes waits for the submitted program that filled rb and returns a copy
// of its bytes. It waits without blocking the device (see wait); in a
// browser it must run on a goroutine, never in a js.FuncOf.
func (rb *Readback) Bytes() ([]byte, error) {
	b := rb.staging
	if err := b.usable(); err != nil {
		return nil, err
	}
	d := b.d
	var status atomic.Int32
	status.Store(-1)
	err := d.scoped(func() error {
		return b.buf.MapAsync(wgpu.MapModeRead, 0, rb.size, func(s wgpu.BufferMapAsyncStatus) {
			status.Store(int32(s))
		})
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: read %q: %w", b.Label, err)
	}
	if err := d.wait(func() bool { return status.Load() >= 0 }); err != nil {
		return nil, fmt.Errorf("gpu: read %q: %w", b.Label, err)
	}
	if s := wgpu.BufferMapAsyncStatus(status.Load()); s != wgpu.BufferMapAsyncStatusSuccess {
		return nil, fmt.Errorf("gpu: read %q: map failed (%s)", b.Label, s)
	}
	out := make([]byte, rb.size)
	copy(out, b.buf.GetMappedRange(0, uint(rb.size)))
	b.buf.Unmap()
	d.count(func(s *Stats) { s.Reads++ })
	return out, nil
}

// F32 is Bytes as float32 values.
func (rb *Readback) F32() ([]float32, error) {
	raw, err := rb.Bytes()
	if err != nil {
		return nil, err
	}
	return BytesF32(raw), nil
}

// Size is the readback's size in bytes.
func (rb *Readback) Size() uint64 { return rb.size }

// Free releases the readback's buffer.
func (rb *Readback) Free() { rb.staging.Free() }
