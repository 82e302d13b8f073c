package gguf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"webpeft/engine/tensor"
)

// maxNameLen is the longest tensor name llama.cpp loads (GGML_MAX_NAME
// is 64 bytes with the terminating NUL).
const maxNameLen = 63

// Builder collects metadata and tensors and writes them as a GGUF version
// 3 file, laid out as llama.cpp writes one: header, metadata, tensor
// infos, zero padding to the alignment, then each tensor's data padded to
// the alignment, the last one included. Tensor data is written through
// when WriteTo runs, so a large file never has to be held in memory.
type Builder struct {
	kvs     []KV
	keys    map[string]bool
	tensors []pending
	names   map[string]bool
}

// pending is a tensor to write: its info (Offset relative to the data
// section, set by WriteTo) and the function that writes its data.
type pending struct {
	info  TensorInfo
	write func(io.Writer) error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{keys: make(map[string]bool), names: make(map[string]bool)}
}

// AddKV appends a metadata entry; value is a Go value of a GGUF type as KV
// documents. general.alignment, if added, must be a uint32 power of two
// and sets the alignment of the tensor data.
func (b *Builder) AddKV(key string, value any) error {
	if key == "" {
		return fmt.Errorf("gguf: empty metadata key")
	}
	if b.keys[key] {
		return fmt.Errorf("gguf: duplicate metadata key %q", key)
	}
	if err := checkValue(value, 0); err != nil {
		return fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	if key == AlignmentKey {
		a, ok := value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: %s must be a uint32 power of two, not %T %v", AlignmentKey, value, value)
		}
	}
	b.keys[key] = true
	b.kvs = append(b.kvs, KV{Key: key, Value: value})
	return nil
}

// checkValue checks that v is a GGUF value and that an array of arrays
// holds only arrays, nested at most maxNesting deep.
func checkValue(v any, depth int) error {
	t, elem, err := typeOf(v)
	if err != nil || t != TypeArray {
		return err
	}
	if depth >= maxNesting {
		return fmt.Errorf("arrays nested more than %d deep", maxNesting)
	}
	if elem != TypeArray {
		return nil
	}
	for i, e := range v.([]any) {
		t, _, err := typeOf(e)
		if err == nil && t != TypeArray {
			err = fmt.Errorf("an array of arrays holds a %T", e)
		}
		if err == nil {
			err = checkValue(e, depth+1)
		}
		if err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}

// AddTensor appends a tensor whose stored bytes (blocks as GGUF keeps
// them) are data. shape is in ggml order, row length first.
func (b *Builder) AddTensor(name string, typ tensor.Type, shape []uint64, data []byte) error {
	return b.AddTensorFunc(name, typ, shape, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// AddTensorFunc appends a tensor whose data write writes when WriteTo
// runs; it must write exactly the tensor's size in bytes.
func (b *Builder) AddTensorFunc(name string, typ tensor.Type, shape []uint64, write func(w io.Writer) error) error {
	if err := checkTensorName(name); err != nil {
		return err
	}
	if b.names[name] {
		return fmt.Errorf("gguf: duplicate tensor name %q", name)
	}
	if len(shape) == 0 || len(shape) > maxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions, want 1 to %d", name, len(shape), maxDims)
	}
	size, err := dataSize(typ, shape)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	b.names[name] = true
	info := TensorInfo{Name: name, Type: typ, Shape: append([]uint64(nil), shape...), Size: size}
	b.tensors = append(b.tensors, pending{info: info, write: write})
	return nil
}

func checkTensorName(name string) error {
	if name == "" {
		return fmt.Errorf("gguf: empty tensor name")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("gguf: tensor name %q is %d bytes, llama.cpp loads at most %d", name, len(name), maxNameLen)
	}
	return nil
}

// alignment is the alignment WriteTo pads to.
func (b *Builder) alignment() uint64 {
	for _, kv := range b.kvs {
		if kv.Key == AlignmentKey {
			return uint64(kv.Value.(uint32)) // AddKV checked the type
		}
	}
	return DefaultAlignment
}

// WriteTo writes the file to w and returns the number of bytes written.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	err := b.write(bw)
	if err == nil {
		err = bw.Flush()
	}
	return cw.n, err
}

func (b *Builder) write(bw *bufio.Writer) error {
	align := b.alignment()
	var off uint64 // each tensor's offset in the data section
	for i := range b.tensors {
		b.tensors[i].info.Offset = off
		off += alignUp(b.tensors[i].info.Size, align)
	}
	e := &encoder{w: bw}
	e.header(b, align)
	if e.err != nil {
		return fmt.Errorf("gguf: write header: %w", e.err)
	}
	for _, p := range b.tensors {
		if err := writeData(bw, p, align); err != nil {
			return fmt.Errorf("gguf: tensor %q: %w", p.info.Name, err)
		}
	}
	return nil
}

// writeData writes one tensor's data, checks its length and pads it.
func writeData(bw *bufio.Writer, p pending, align uint64) error {
	cw := &countWriter{w: bw}
	if err := p.write(cw); err != nil {
		return err
	}
	if uint64(cw.n) != p.info.Size {
		return fmt.Errorf("wrote %d bytes of data, want %d", cw.n, p.info.Size)
	}
	return writeZeros(bw, alignUp(p.info.Size, align)-p.info.Size)
}

// writeZeros writes n zero bytes a page at a time: an alignment may be
// any uint32 power of two, so padding is never made in one piece.
func writeZeros(w io.Writer, n uint64) error {
	var zeros [4096]byte
	for n > 0 {
		k := min(n, uint64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian GGUF values, keeping the first error and
// the byte count (for the padding after the header).
type encoder struct {
	w   io.Writer
	n   uint64
	err error
}

func (e *encoder) bytes(p []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(p)
	e.n += uint64(n)
	e.err = err
}

func (e *encoder) u32(v uint32) { e.bytes(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *encoder) u64(v uint64) { e.bytes(binary.LittleEndian.AppendUint64(nil, v)) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.bytes([]byte(s))
}

// header writes everything before the data section, padding included.
func (e *encoder) header(b *Builder, align uint64) {
	e.bytes([]byte(magic))
	e.u32(writeVersion)
	e.u64(uint64(len(b.tensors)))
	e.u64(uint64(len(b.kvs)))
	for _, kv := range b.kvs {
		e.str(kv.Key)
		e.typedValue(kv.Value)
	}
	for _, p := range b.tensors {
		e.str(p.info.Name)
		e.u32(uint32(len(p.info.Shape)))
		for _, d := range p.info.Shape {
			e.u64(d)
		}
		e.u32(uint32(p.info.Type))
		e.u64(p.info.Offset)
	}
	if e.err == nil {
		pad := alignUp(e.n, align) - e.n
		e.err = writeZeros(e.w, pad)
		e.n += pad
	}
}

// typedValue writes a value's type tag and the value.
func (e *encoder) typedValue(v any) {
	t, _, _ := typeOf(v) // AddKV checked v
	e.u32(uint32(t))
	e.value(v)
}

// value writes a value without its type tag; an array is its element
// type, its count and its elements.
func (e *encoder) value(v any) {
	switch x := v.(type) {
	case string:
		e.str(x)
	case []string:
		e.arrayHead(TypeString, len(x))
		for _, s := range x {
			e.str(s)
		}
	case []any:
		e.arrayHead(TypeArray, len(x))
		for _, a := range x {
			e.value(a)
		}
	default:
		e.fixed(v)
	}
}

func (e *encoder) arrayHead(elem ValueType, n int) {
	e.u32(uint32(elem))
	e.u64(uint64(n))
}

// fixed writes a fixed-size scalar, or an array of them, with
// encoding/binary (bools as one byte, 0 or 1, as ggml writes them).
func (e *encoder) fixed(v any) {
	t, elem, _ := typeOf(v)
	if t == TypeArray {
		e.arrayHead(elem, sliceLen(v))
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, v); err != nil && e.err == nil {
		e.err = err
	}
	e.bytes(buf.Bytes())
}

// sliceLen is the length of a fixed-size slice value.
func sliceLen(v any) int {
	switch x := v.(type) {
	case []uint8:
		return len(x)
	case []int8:
		return len(x)
	case []uint16:
		return len(x)
	case []int16:
		return len(x)
	case []uint32:
		return len(x)
	case []int32:
		return len(x)
	case []float32:
		return len(x)
	case []bool:
		return len(x)
	case []uint64:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	}
	return 0
}
