package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxNesting bounds arrays of arrays, so a hostile file cannot make the
// reader recurse without end. Real files nest at most once.
const maxNesting = 16

// readKVs reads n metadata entries, refusing empty and repeated keys.
func readKVs(c *cursor, n uint64) ([]KV, error) {
	// Every entry takes at least a key length, a type and a 1-byte value.
	if err := c.need(n, 8+4+1, "metadata count"); err != nil {
		return nil, err
	}
	kvs := make([]KV, 0, min(n, 1024)) // grown as entries are read, not trusted up front
	seen := make(map[string]bool)
	for i := range n {
		key, err := c.str()
		if err != nil {
			return nil, fmt.Errorf("metadata key %d: %w", i, err)
		}
		if key == "" {
			return nil, fmt.Errorf("metadata key %d is empty", i)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate metadata key %q", key)
		}
		seen[key] = true
		v, err := readTypedValue(c, 0)
		if err != nil {
			return nil, fmt.Errorf("metadata key %q: %w", key, err)
		}
		kvs = append(kvs, KV{Key: key, Value: v})
	}
	return kvs, nil
}

// readTypedValue reads a value type tag and the value after it.
func readTypedValue(c *cursor, depth int) (any, error) {
	t, err := c.u32()
	if err != nil {
		return nil, err
	}
	return readValue(c, ValueType(t), depth)
}

// readValue reads one value of type t.
func readValue(c *cursor, t ValueType, depth int) (any, error) {
	switch {
	case t == TypeString:
		return c.str()
	case t == TypeArray:
		return readArray(c, depth+1)
	case t.fixedSize() != 0:
		return c.scalar(t)
	}
	return nil, fmt.Errorf("unknown value type %d", uint32(t))
}

// readArray reads an element type, a count and the elements. The count
// is checked against the bytes left before the slice is made.
func readArray(c *cursor, depth int) (any, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("arrays nested more than %d deep", maxNesting)
	}
	t32, err := c.u32()
	if err != nil {
		return nil, err
	}
	t := ValueType(t32)
	n, err := c.u64()
	if err != nil {
		return nil, err
	}
	if t.minSize() == 0 {
		return nil, fmt.Errorf("array of unknown value type %d", t32)
	}
	if err := c.need(n, t.minSize(), fmt.Sprintf("array of %d %vs", n, t)); err != nil {
		return nil, err
	}
	switch t {
	case TypeString:
		return stringArray(c, n)
	case TypeArray:
		return nestedArray(c, n, depth)
	}
	return fixedArray(c, t, n)
}

func stringArray(c *cursor, n uint64) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		s, err := c.str()
		if err != nil {
			return nil, fmt.Errorf("string %d: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

// nestedArray reads n arrays; each element carries its own element type
// and count.
func nestedArray(c *cursor, n uint64, depth int) ([]any, error) {
	out := make([]any, n)
	for i := range out {
		v, err := readArray(c, depth+1)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// fixedArray reads n fixed-size values into the typed slice KV documents.
func fixedArray(c *cursor, t ValueType, n uint64) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return readFixed(c, n, 1, func(b []byte) uint8 { return b[0] })
	case TypeInt8:
		return readFixed(c, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case TypeBool:
		return readFixed(c, n, 1, func(b []byte) bool { return b[0] != 0 })
	case TypeUint16:
		return readFixed(c, n, 2, le.Uint16)
	case TypeInt16:
		return readFixed(c, n, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case TypeUint32:
		return readFixed(c, n, 4, le.Uint32)
	case TypeInt32:
		return readFixed(c, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case TypeFloat32:
		return readFixed(c, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case TypeUint64:
		return readFixed(c, n, 8, le.Uint64)
	case TypeInt64:
		return readFixed(c, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case TypeFloat64:
		return readFixed(c, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
	return nil, fmt.Errorf("unknown value type %d", uint32(t))
}

// readFixed reads n values of size bytes each, converting each with conv.
func readFixed[T any](c *cursor, n uint64, size int, conv func([]byte) T) ([]T, error) {
	out := make([]T, n)
	for i := range out {
		b, err := c.next(size)
		if err != nil {
			return nil, err
		}
		out[i] = conv(b)
	}
	return out, nil
}
