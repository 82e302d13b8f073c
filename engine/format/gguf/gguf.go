// Package gguf reads and writes GGUF files (versions 2 and 3), the model
// format of llama.cpp. Open parses the header, metadata and tensor index
// through an io.ReaderAt and keeps no tensor data in memory: callers
// stream tensors in row chunks with ReadRaw or ReadF32. Every count and
// length in a file is checked against the file's size before anything is
// allocated for it, so a hostile file gives an error, never a panic, a
// hang or a huge allocation. Builder writes version 3 files laid out
// exactly as llama.cpp's gguf_write_to_file lays them out.
package gguf

import (
	"fmt"
	"io"

	"webpeft/engine/tensor"
)

// magic opens every GGUF file.
const magic = "GGUF"

// writeVersion is the version Builder writes.
const writeVersion = 3

// DefaultAlignment is the alignment of tensor data when a file has no
// general.alignment key.
const DefaultAlignment = 32

// AlignmentKey is the metadata key that sets the alignment (a uint32).
const AlignmentKey = "general.alignment"

// maxDims is GGML_MAX_DIMS: a tensor has at most 4 dimensions.
const maxDims = 4

// File is an open GGUF file: its metadata and its tensor index. Tensor
// data stays in the file until ReadRaw or ReadF32 asks for it.
type File struct {
	Version    uint32
	Alignment  uint64       // general.alignment, or DefaultAlignment
	KV         []KV         // metadata in file order
	Tensors    []TensorInfo // tensor index in file order
	DataOffset uint64       // absolute offset of the (aligned) data section

	r     io.ReaderAt
	size  int64
	keys  map[string]int // KV index by key
	names map[string]int // Tensors index by name
}

// TensorInfo describes one tensor and where its data lies.
type TensorInfo struct {
	Name   string
	Type   tensor.Type
	Shape  []uint64 // ggml order: Shape[0] is the row length (fastest)
	Offset uint64   // absolute file offset of the data
	Size   uint64   // bytes of data
}

// Open reads the header, metadata and tensor index of the GGUF file r of
// size bytes, and checks that every tensor's data lies inside the file,
// aligned and not overlapping another's.
func Open(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("gguf: negative file size %d", size)
	}
	f, err := readHeader(newCursor(r, size))
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f.r, f.size = r, size
	return f, nil
}

// readHeader parses everything before the data section.
func readHeader(c *cursor) (*File, error) {
	version, nTensors, nKV, err := readPreamble(c)
	if err != nil {
		return nil, err
	}
	f := &File{Version: version}
	if f.KV, err = readKVs(c, nKV); err != nil {
		return nil, err
	}
	f.keys = indexKeys(f.KV)
	if f.Alignment, err = alignmentOf(f); err != nil {
		return nil, err
	}
	if f.Tensors, err = readTensorInfos(c, nTensors); err != nil {
		return nil, err
	}
	f.DataOffset = alignUp(uint64(c.off), f.Alignment)
	if err := placeTensors(f, uint64(c.size)); err != nil {
		return nil, err
	}
	f.names = make(map[string]int, len(f.Tensors))
	for i, t := range f.Tensors {
		f.names[t.Name] = i
	}
	return f, nil
}

// readPreamble reads the magic, the version and the two counts.
func readPreamble(c *cursor) (version uint32, nTensors, nKV uint64, err error) {
	b := make([]byte, 4)
	if err := c.read(b); err != nil {
		return 0, 0, 0, fmt.Errorf("not a GGUF file: %w", err)
	}
	if string(b) != magic {
		return 0, 0, 0, fmt.Errorf("not a GGUF file: magic %q, want %q", b, magic)
	}
	if version, err = c.u32(); err != nil {
		return 0, 0, 0, err
	}
	if err := checkVersion(version); err != nil {
		return 0, 0, 0, err
	}
	if nTensors, err = c.u64(); err != nil {
		return 0, 0, 0, err
	}
	nKV, err = c.u64()
	return version, nTensors, nKV, err
}

func checkVersion(v uint32) error {
	switch {
	case v == 2 || v == 3:
		return nil
	case v == 1:
		return fmt.Errorf("GGUF version 1 is not supported (only 2 and 3)")
	case v != 0 && v&0xffff == 0: // ggml's test: a small version read in the wrong byte order
		return fmt.Errorf("GGUF version %#x: a big-endian file? only little-endian versions 2 and 3 are supported", v)
	}
	return fmt.Errorf("GGUF version %d is not supported (only 2 and 3)", v)
}

func indexKeys(kvs []KV) map[string]int {
	m := make(map[string]int, len(kvs))
	for i, kv := range kvs {
		m[kv.Key] = i
	}
	return m
}

// alignmentOf returns general.alignment, which ggml requires to be a
// uint32 power of two, or the default.
func alignmentOf(f *File) (uint64, error) {
	v, ok := f.Value(AlignmentKey)
	if !ok {
		return DefaultAlignment, nil
	}
	a, ok := v.(uint32)
	if !ok {
		return 0, fmt.Errorf("metadata key %q is %v, want uint32", AlignmentKey, KV{Value: v}.Type())
	}
	if a == 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("metadata key %q: alignment %d is not a power of two", AlignmentKey, a)
	}
	return uint64(a), nil
}

// alignUp rounds n up to a multiple of a (a power of two); it saturates
// instead of wrapping, so an overflow shows up as an offset past the file.
func alignUp(n, a uint64) uint64 {
	if n > ^uint64(0)-(a-1) {
		return ^uint64(0)
	}
	return (n + a - 1) &^ (a - 1)
}
