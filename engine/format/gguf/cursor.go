package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// cursor reads the header of a GGUF file front to back through a small
// buffer. It knows how many bytes are left, so every length read from the
// file is checked against what the file can hold before anything is
// allocated for it.
type cursor struct {
	br      *bufio.Reader
	off     int64 // bytes consumed
	size    int64 // the file's size
	scratch [8]byte
}

func newCursor(r io.ReaderAt, size int64) *cursor {
	return &cursor{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size}
}

// left is the number of unread bytes in the file.
func (c *cursor) left() uint64 { return uint64(c.size - c.off) }

// need fails unless n items of at least each bytes apiece fit in the rest
// of the file; what names them in the error.
func (c *cursor) need(n, each uint64, what string) error {
	if each != 0 && n > c.left()/each {
		return fmt.Errorf("%s: %d × %d bytes is more than the %d bytes left at offset %d", what, n, each, c.left(), c.off)
	}
	return nil
}

// read fills b from the file.
func (c *cursor) read(b []byte) error {
	if uint64(len(b)) > c.left() {
		return fmt.Errorf("file truncated at offset %d: %d bytes needed, %d left", c.off, len(b), c.left())
	}
	n, err := io.ReadFull(c.br, b)
	c.off += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("file truncated at offset %d (the reader ended before its size)", c.off)
		}
		return fmt.Errorf("read at offset %d: %w", c.off, err)
	}
	return nil
}

// next reads n (at most 8) bytes into the scratch buffer.
func (c *cursor) next(n int) ([]byte, error) {
	b := c.scratch[:n]
	return b, c.read(b)
}

func (c *cursor) u32() (uint32, error) {
	b, err := c.next(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (c *cursor) u64() (uint64, error) {
	b, err := c.next(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a GGUF string: a uint64 length, then that many bytes.
func (c *cursor) str() (string, error) {
	n, err := c.u64()
	if err != nil {
		return "", err
	}
	if n > c.left() {
		return "", fmt.Errorf("string length %d is more than the %d bytes left at offset %d", n, c.left(), c.off)
	}
	b := make([]byte, n)
	if err := c.read(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// scalar reads one fixed-size value of type t.
func (c *cursor) scalar(t ValueType) (any, error) {
	b, err := c.next(t.fixedSize())
	if err != nil {
		return nil, err
	}
	return decodeScalar(t, b), nil
}

// decodeScalar converts the little-endian bytes of a fixed-size value.
func decodeScalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0 // ggml reads any non-zero byte as true
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	return nil
}
