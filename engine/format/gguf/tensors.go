package gguf

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"webpeft/engine/tensor"
)

// readTensorInfos reads n tensor infos. Offsets are left relative to the
// data section; placeTensors makes them absolute once it is known.
func readTensorInfos(c *cursor, n uint64) ([]TensorInfo, error) {
	// Every info takes at least a name length, n_dims, a type and an offset.
	if err := c.need(n, 8+4+4+8, "tensor count"); err != nil {
		return nil, err
	}
	infos := make([]TensorInfo, 0, min(n, 1024))
	seen := make(map[string]bool)
	for i := range n {
		t, err := readTensorInfo(c)
		if err != nil {
			if t.Name != "" {
				return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		infos = append(infos, t)
	}
	return infos, nil
}

// readTensorInfo reads a name, the dimensions, the type and the relative
// offset. On error the returned info carries the name, if it was read.
func readTensorInfo(c *cursor) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = c.str(); err != nil {
		return t, fmt.Errorf("name: %w", err)
	}
	nd, err := c.u32()
	if err != nil {
		return t, err
	}
	if nd > maxDims {
		return t, fmt.Errorf("%d dimensions, at most %d allowed", nd, maxDims)
	}
	t.Shape = make([]uint64, nd)
	for j := range t.Shape {
		if t.Shape[j], err = c.u64(); err != nil {
			return t, err
		}
		if t.Shape[j] > math.MaxInt64 { // ggml reads dimensions as int64
			return t, fmt.Errorf("dimension %d is %d, more than int64 holds", j, t.Shape[j])
		}
	}
	typ, err := c.u32()
	if err != nil {
		return t, err
	}
	t.Type = tensor.Type(typ)
	if err := t.Type.Check(); err != nil {
		return t, err
	}
	t.Offset, err = c.u64()
	return t, err
}

// placeTensors sizes every tensor, makes its offset absolute and checks
// that its data is aligned, inside the file, and overlaps no other's.
func placeTensors(f *File, fileSize uint64) error {
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if err := placeTensor(t, f.DataOffset, f.Alignment, fileSize); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	return checkOverlaps(f.Tensors)
}

func placeTensor(t *TensorInfo, dataOffset, alignment, fileSize uint64) error {
	size, err := dataSize(t.Type, t.Shape)
	if err != nil {
		return err
	}
	if size > fileSize {
		return fmt.Errorf("%v %v needs %d bytes, more than the whole file (%d)", t.Type, t.Shape, size, fileSize)
	}
	rel := t.Offset
	if rel%alignment != 0 {
		return fmt.Errorf("data offset %d is not a multiple of the alignment %d", rel, alignment)
	}
	abs, carry := bits.Add64(dataOffset, rel, 0)
	end, carry2 := bits.Add64(abs, size, 0)
	if carry != 0 || carry2 != 0 || end > fileSize {
		return fmt.Errorf("data at offset %d + %d (%d bytes) runs past the end of the file (%d bytes)", dataOffset, rel, size, fileSize)
	}
	t.Offset, t.Size = abs, size
	return nil
}

// dataSize is the byte size of a tensor of type typ and shape shape: the
// element count must fit in an int64 and the row length must be whole
// blocks.
func dataSize(typ tensor.Type, shape []uint64) (uint64, error) {
	if err := typ.Check(); err != nil {
		return 0, err
	}
	n := uint64(1)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has more elements than int64 holds", shape)
		}
		n = lo
	}
	bl, bb := uint64(typ.BlockLen()), uint64(typ.BlockBytes())
	if row := rowLen(shape); row%bl != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of %v's block length %d", row, typ, bl)
	}
	hi, size := bits.Mul64(n/bl, bb)
	if hi != 0 || size > math.MaxInt64 {
		return 0, fmt.Errorf("%v %v overflows a byte count", typ, shape)
	}
	return size, nil
}

// checkOverlaps fails if the data of two non-empty tensors overlap.
func checkOverlaps(ts []TensorInfo) error {
	order := make([]*TensorInfo, 0, len(ts))
	for i := range ts {
		if ts[i].Size > 0 {
			order = append(order, &ts[i])
		}
	}
	slices.SortFunc(order, func(a, b *TensorInfo) int {
		return cmpUint64(a.Offset, b.Offset)
	})
	for i := 1; i < len(order); i++ {
		prev, t := order[i-1], order[i]
		if t.Offset < prev.Offset+prev.Size {
			return fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap",
				prev.Name, prev.Offset, prev.Offset+prev.Size, t.Name, t.Offset, t.Offset+t.Size)
		}
	}
	return nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rowLen is a shape's row length: Shape[0], or 1 for a scalar.
func rowLen(shape []uint64) uint64 {
	if len(shape) == 0 {
		return 1
	}
	return shape[0]
}

// Elements is the number of values in the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// RowLen is the number of values in one row, Shape[0] (1 for a scalar).
func (t *TensorInfo) RowLen() uint64 { return rowLen(t.Shape) }

// Rows is the number of rows: the product of Shape[1:].
func (t *TensorInfo) Rows() uint64 {
	n := uint64(1)
	for _, d := range t.Shape[min(1, len(t.Shape)):] {
		n *= d
	}
	return n
}

// RowBytes is the size of one row's data in bytes.
func (t *TensorInfo) RowBytes() uint64 {
	n, _ := dataSize(t.Type, []uint64{t.RowLen()})
	return n
}
