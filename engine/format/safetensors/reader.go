// Package safetensors reads and writes Hugging Face safetensors files
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte
// range, then the tensors' bytes, row-major and little-endian.
//
// The reader works over an io.ReaderAt and never holds the data section:
// Open reads and fully validates the header before anything is allocated
// from it, and ReadRaw / ReadF32 / ReadQuantized stream a tensor by rows.
// Write produces the bytes the Python library writes for the same tensors.
// OpenFS presents a sharded checkpoint (model.safetensors.index.json) as
// one tensor index.
package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxHeaderLen is the largest JSON header accepted, the Python/Rust
// library's own limit (100 MB).
const MaxHeaderLen = 100_000_000

// File is an open safetensors file: its validated header and the ReaderAt
// the tensor bytes are read from.
type File struct {
	Metadata map[string]string // "__metadata__"; nil when absent
	Tensors  []TensorInfo      // sorted by offset (then name)

	r      io.ReaderAt
	size   int64
	byName map[string]int
}

// TensorInfo is one tensor of the header.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int64 // PyTorch order, slowest first; empty for a scalar
	Begin, End int64   // absolute file offsets of its bytes
}

// Open reads and validates the header of the size-byte safetensors file r.
// Everything the header claims is checked against the file before any
// buffer is sized from it: the header length, JSON syntax, duplicate
// names, each dtype and shape, and that the tensors tile the data section
// exactly.
func Open(r io.ReaderAt, size int64) (*File, error) {
	js, err := readHeaderBytes(r, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	h, err := parseHeader(js)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	slices.SortFunc(h.tensors, byOffset)
	dataStart := 8 + int64(len(js))
	if err := checkLayout(h.tensors, size-dataStart); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f := &File{Metadata: h.metadata, Tensors: h.tensors, r: r, size: size, byName: map[string]int{}}
	for i := range f.Tensors {
		f.Tensors[i].Begin += dataStart
		f.Tensors[i].End += dataStart
		f.byName[f.Tensors[i].Name] = i
	}
	return f, nil
}

// readHeaderBytes reads the length prefix and the JSON header it counts,
// after checking that length against MaxHeaderLen and the file size.
func readHeaderBytes(r io.ReaderAt, size int64) ([]byte, error) {
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var prefix [8]byte
	if err := readFull(r, prefix[:], 0); err != nil {
		return nil, fmt.Errorf("reading the header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderLen {
		return nil, fmt.Errorf("header length %d is over the %d-byte limit", n, MaxHeaderLen)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("header length %d is past the end of the %d-byte file", n, size)
	}
	js := make([]byte, n)
	if err := readFull(r, js, 8); err != nil {
		return nil, fmt.Errorf("reading the %d-byte header: %w", n, err)
	}
	if !utf8.Valid(js) {
		return nil, errors.New("header is not valid UTF-8")
	}
	return js, nil
}

func byOffset(a, b TensorInfo) int {
	if c := cmpInt(a.Begin, b.Begin); c != 0 {
		return c
	}
	if c := cmpInt(a.End, b.End); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readFull reads len(p) bytes at off. A ReaderAt may return io.EOF along
// with a full read at the end of the file; that is not an error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Tensor returns the header entry named name.
func (f *File) Tensor(name string) (*TensorInfo, error) {
	i, ok := f.byName[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	return &f.Tensors[i], nil
}

// Elements is the number of elements (1 for a scalar, 0 for an empty tensor).
func (t *TensorInfo) Elements() int64 {
	n, _ := elements(t.Shape) // validated by Open: cannot overflow
	return n
}

// RowLen is the length of the last dimension (1 for a scalar). ReadRaw,
// ReadF32 and ReadQuantized count in rows of this many elements.
func (t *TensorInfo) RowLen() int64 {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// Rows is the product of all dimensions but the last: the matrix rows of a
// 2-D weight, and 1 for a scalar or a vector.
func (t *TensorInfo) Rows() int64 {
	if len(t.Shape) == 0 {
		return 1
	}
	n, _ := elements(t.Shape[:len(t.Shape)-1])
	return n
}

// rowSpan is the absolute file range of rows [rowStart, rowStart+rows).
func (t *TensorInfo) rowSpan(rowStart, rows int64) (off, n int64, err error) {
	if rowStart < 0 || rows < 0 || rowStart > t.Rows() || rows > t.Rows()-rowStart {
		return 0, 0, fmt.Errorf("safetensors: tensor %q: rows [%d, %d+%d) out of range (it has %d rows)",
			t.Name, rowStart, rowStart, rows, t.Rows())
	}
	rowBytes := t.RowLen() * t.DType.Size() // both bounded by the validated byte count
	if rowBytes == 0 && t.End > t.Begin {
		return 0, 0, fmt.Errorf("safetensors: tensor %q: %s elements are not whole bytes; it cannot be read by rows", t.Name, t.DType)
	}
	n = rows * rowBytes
	if n > math.MaxInt {
		return 0, 0, fmt.Errorf("safetensors: tensor %q: %d bytes do not fit in memory here", t.Name, n)
	}
	return t.Begin + rowStart*rowBytes, n, nil
}

// ReadRaw returns the bytes of rows [rowStart, rowStart+rows) of t, as
// stored: little-endian elements, row-major.
func (f *File) ReadRaw(t *TensorInfo, rowStart, rows int64) ([]byte, error) {
	if t.Begin < 0 || t.End > f.size || t.Begin > t.End {
		return nil, fmt.Errorf("safetensors: tensor %q lies outside this %d-byte file", t.Name, f.size)
	}
	off, n, err := t.rowSpan(rowStart, rows)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if err := readFull(f.r, buf, off); err != nil {
		return nil, fmt.Errorf("safetensors: reading tensor %q: %w", t.Name, err)
	}
	return buf, nil
}

// ReadF32 returns rows [rowStart, rowStart+rows) of an F32, F16 or BF16
// tensor as float32 values, converted exactly. Other dtypes are refused by
// name: read them with ReadRaw.
func (f *File) ReadF32(t *TensorInfo, rowStart, rows int64) ([]float32, error) {
	if !t.DType.isFloat() {
		return nil, fmt.Errorf("safetensors: tensor %q is %s; only F32, F16 and BF16 tensors can be read as float32", t.Name, t.DType)
	}
	raw, err := f.ReadRaw(t, rowStart, rows)
	if err != nil {
		return nil, err
	}
	out := make([]float32, int64(len(raw))/t.DType.Size())
	if err := DecodeF32(t.DType, out, raw); err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	return out, nil
}
