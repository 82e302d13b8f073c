package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cogentcore/webgpu/wgpu"
)

// Buffer is a GPU storage buffer. Its size is a multiple of 4 bytes.
type Buffer struct {
	Label string
	Size  uint64

	d     *Device
	buf   *wgpu.Buffer
	usage wgpu.BufferUsage
	off   uint64  // byte offset of a view inside its parent's buffer
	whole *Buffer // the buffer a view was made from; nil for a whole buffer
	freed bool
}

// View returns the byte range [offset, offset+size) of b as a Buffer that can
// be bound, uploaded to and read like any other. WebGPU requires binding
// offsets to be multiples of minStorageBufferOffsetAlignment (usually 256).
func (b *Buffer) View(label string, offset, size uint64) (*Buffer, error) {
	a := uint64(b.d.Limits.MinStorageBufferOffsetAlignment)
	if offset%a != 0 || size%4 != 0 || offset+size > b.Size {
		return nil, fmt.Errorf("gpu: view %q of %q: [%d, %d) is outside %d bytes or not %d-aligned",
			label, b.Label, offset, offset+size, b.Size, a)
	}
	root := b
	if b.whole != nil {
		root = b.whole
	}
	return &Buffer{Label: label, Size: size, d: b.d, buf: b.buf, usage: b.usage, off: b.off + offset, whole: root}, nil
}

// Within reports b's byte offset inside parent when b is parent or lies
// in it as a view of the same buffer.
func (b *Buffer) Within(parent *Buffer) (uint64, bool) {
	root := func(x *Buffer) *Buffer {
		if x.whole != nil {
			return x.whole
		}
		return x
	}
	if root(b) != root(parent) || b.off < parent.off || b.off+b.Size > parent.off+parent.Size {
		return 0, false
	}
	return b.off - parent.off, true
}

// NewBuffer makes a zeroed storage buffer of size bytes (rounded up to a
// multiple of 4). A buffer larger than the device grants is refused here,
// with the limit named, rather than by a validation error later.
func (d *Device) NewBuffer(label string, size uint64) (*Buffer, error) {
	return d.newBuffer(label, size, wgpu.BufferUsageStorage|wgpu.BufferUsageCopySrc|wgpu.BufferUsageCopyDst)
}

func (d *Device) newBuffer(label string, size uint64, usage wgpu.BufferUsage) (*Buffer, error) {
	size = align(max(size, 4), 4)
	if size > d.Limits.MaxBufferSize {
		return nil, fmt.Errorf("gpu: buffer %q: %d bytes is over the device's maxBufferSize of %d bytes (%s)",
			label, size, d.Limits.MaxBufferSize, d.Info.Name)
	}
	var buf *wgpu.Buffer
	err := d.scoped(func() (err error) {
		buf, err = d.dev.CreateBuffer(&wgpu.BufferDescriptor{Label: label, Size: size, Usage: usage})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: buffer %q (%d bytes): %w", label, size, err)
	}
	d.count(func(s *Stats) {
		s.Allocs++
		s.LiveBytes += size
		s.PeakBytes = max(s.PeakBytes, s.LiveBytes)
	})
	return &Buffer{Label: label, Size: size, d: d, buf: buf, usage: usage}, nil
}

// Free destroys the buffer now rather than waiting for the collector.
func (b *Buffer) Free() {
	if b == nil || b.freed || b.whole != nil {
		return
	}
	b.freed = true
	b.d.count(func(s *Stats) { s.LiveBytes -= b.Size })
	b.buf.Destroy()
	b.buf.Release()
}

// Upload writes data at byte offset. The write is queued: it happens before
// any later submit. Lengths are padded to a multiple of 4 (WebGPU's rule),
// so 34-byte Q8_0 or 18-byte Q4_0 streams can be written as they are.
func (b *Buffer) Upload(offset uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if offset%4 != 0 {
		return fmt.Errorf("gpu: upload to %q at offset %d: offset must be a multiple of 4", b.Label, offset)
	}
	if rem := len(data) % 4; rem != 0 {
		data = append(data[:len(data):len(data)], make([]byte, 4-rem)...)
	}
	if offset+uint64(len(data)) > b.Size {
		return fmt.Errorf("gpu: upload of %d bytes at offset %d overruns buffer %q of %d bytes",
			len(data), offset, b.Label, b.Size)
	}
	if err := b.usable(); err != nil {
		return err
	}
	b.d.count(func(s *Stats) { s.Uploads++ })
	return b.d.scoped(func() error { return b.d.writeBuffer(b.buf, b.off+offset, data) })
}

// UploadF32 writes float32 values at element offset off.
func (b *Buffer) UploadF32(off int, v []float32) error {
	return b.Upload(uint64(off)*4, F32Bytes(v))
}

// UploadU32 writes uint32 values at element offset off.
func (b *Buffer) UploadU32(off int, v []uint32) error {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], x)
	}
	return b.Upload(uint64(off)*4, out)
}

// Read copies size bytes at offset back to the host: one submit of one
// copy into a Readback, then its wait (see Readback.Bytes). A program
// that needs a result records its own Readback instead.
func (b *Buffer) Read(offset, size uint64) ([]byte, error) {
	if err := b.usable(); err != nil {
		return nil, err
	}
	if offset%4 != 0 || size%4 != 0 || offset+size > b.Size {
		return nil, fmt.Errorf("gpu: read of %d bytes at %d from %q (%d bytes): out of range or not 4-aligned",
			size, offset, b.Label, b.Size)
	}
	rb, err := b.d.NewReadback(b.Label, size)
	if err != nil {
		return nil, err
	}
	defer rb.Free()
	r := b.d.NewRecorder("read " + b.Label)
	r.ReadBack(rb, b, offset)
	if err := r.Submit(); err != nil {
		return nil, err
	}
	return rb.Bytes()
}

// ReadF32 reads n float32 values from the start of the buffer.
func (b *Buffer) ReadF32(n int) ([]float32, error) {
	raw, err := b.Read(0, uint64(n)*4)
	if err != nil {
		return nil, err
	}
	return BytesF32(raw), nil
}

func (b *Buffer) usable() error {
	if b.freed || b.whole != nil && b.whole.freed {
		return fmt.Errorf("gpu: buffer %q used after Free", b.Label)
	}
	return b.d.Lost()
}

// F32Bytes encodes float32 values little-endian.
func F32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// BytesF32 decodes little-endian float32 values.
func BytesF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func align(n, a uint64) uint64 { return (n + a - 1) / a * a }
