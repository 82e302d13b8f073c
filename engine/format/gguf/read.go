package gguf

import (
	"fmt"
	"io"
	"math"

	"webpeft/engine/tensor"
)

// Tensor returns the tensor named name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.names[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// ReadRaw returns the stored bytes (blocks, as GGUF keeps them) of rows
// rows of t from row rowStart on. Reading a large tensor a chunk of rows
// at a time keeps memory bounded by the chunk.
func (f *File) ReadRaw(t *TensorInfo, rowStart, rows int) ([]byte, error) {
	off, n, err := f.rowSpan(t, rowStart, rows)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	return buf, f.readAt(t, buf, off)
}

// ReadRawInto is ReadRaw into dst, which must be exactly the rows' size
// (rows * t.RowBytes()); it allocates nothing, for callers that stream a
// tensor through one reused buffer.
func (f *File) ReadRawInto(dst []byte, t *TensorInfo, rowStart, rows int) error {
	off, n, err := f.rowSpan(t, rowStart, rows)
	if err != nil {
		return err
	}
	if uint64(len(dst)) != n {
		return fmt.Errorf("gguf: tensor %q: %d rows are %d bytes, buffer has %d", t.Name, rows, n, len(dst))
	}
	return f.readAt(t, dst, off)
}

// ReadF32 returns rows rows of t from row rowStart on, decoded to float32
// exactly as llama.cpp decodes them (tensor.DecodeRows).
func (f *File) ReadF32(t *TensorInfo, rowStart, rows int) ([]float32, error) {
	raw, err := f.ReadRaw(t, rowStart, rows)
	if err != nil {
		return nil, err
	}
	out := make([]float32, uint64(rows)*t.RowLen())
	if err := tensor.DecodeRows(t.Type, out, raw); err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// rowSpan checks a row range of t against the tensor and the file and
// returns its absolute offset and byte length.
func (f *File) rowSpan(t *TensorInfo, rowStart, rows int) (off, n uint64, err error) {
	if t == nil {
		return 0, 0, fmt.Errorf("gguf: nil tensor")
	}
	if rowStart < 0 || rows < 0 || uint64(rowStart) > t.Rows() || uint64(rows) > t.Rows()-uint64(rowStart) {
		return 0, 0, fmt.Errorf("gguf: tensor %q: rows [%d, %d+%d) are outside its %d rows", t.Name, rowStart, rowStart, rows, t.Rows())
	}
	rb, err := dataSize(t.Type, []uint64{t.RowLen()})
	if err != nil {
		return 0, 0, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
	}
	// Rows and row bytes both come from a shape placeTensor (or the
	// caller) sized, but a hand-made TensorInfo could still lie: bound the
	// span by the tensor's Size and the file.
	start, n := uint64(rowStart)*rb, uint64(rows)*rb
	if rb != 0 && (uint64(rowStart) > t.Size/rb || uint64(rows) > (t.Size-start)/rb) {
		return 0, 0, fmt.Errorf("gguf: tensor %q: rows [%d, %d+%d) lie past its %d bytes", t.Name, rowStart, rowStart, rows, t.Size)
	}
	size := uint64(f.size)
	if t.Offset > size || start > size-t.Offset || n > size-t.Offset-start || n > math.MaxInt {
		return 0, 0, fmt.Errorf("gguf: tensor %q: %d bytes at %d+%d lie outside the file (%d bytes)", t.Name, n, t.Offset, start, size)
	}
	off = t.Offset + start
	return off, n, nil
}

// readAt fills buf from absolute offset off.
func (f *File) readAt(t *TensorInfo, buf []byte, off uint64) error {
	n, err := f.r.ReadAt(buf, int64(off))
	if n == len(buf) {
		return nil // io.ReaderAt may report io.EOF with a full read at the end
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("gguf: tensor %q: read %d bytes at %d: got %d: %w", t.Name, len(buf), off, n, err)
}
