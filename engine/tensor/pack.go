package tensor

import (
	"encoding/binary"
	"fmt"
)

// Packed is a Q8_0 or Q4_0 weight matrix W (Rows, Cols) repacked from GGUF
// blocks into the aligned layout the GPU kernels read. A GGUF block (34 or
// 18 bytes) is not 4-byte aligned, so its scale and its quants go to two
// separate arrays of 32-bit words:
//
//	block b (0-based, row-major: b = row*Cols/32 + col/32)
//	Quants[b*W : (b+1)*W]  the block's quant bytes as they are in GGUF, little-endian
//	                       words: W = 8 for Q8_0 (byte j = int8 q of element j),
//	                       W = 4 for Q4_0 (byte j = element j | element j+16 << 4)
//	Scales[b/2]            the block's f16 d in the low (b even) or high (b odd)
//	                       16 bits; the last word is zero-padded
//
// Nothing is decoded or rounded: the kernels decode the f16 scale and the
// quants themselves, exactly as Decode does. Each row holds Cols/32 whole
// blocks, so row r's quants start at word r*Cols/32*W.
type Packed struct {
	Type   QuantType
	Rows   int // N: output features
	Cols   int // K: input features, a multiple of 32
	Quants []uint32
	Scales []uint32
}

// QuantWords is the number of uint32 words of quants per packed block: 8
// (Q8_0) or 4 (Q4_0); meaningless for other types, which Pack refuses.
func (t QuantType) QuantWords() int { return (t.BlockBytes() - 2) / 4 }

// Pack repacks rows*cols values of raw GGUF blocks of type t (row-major,
// cols a multiple of 32) into the GPU layout.
func Pack(t QuantType, raw []byte, rows, cols int) (*Packed, error) {
	if rows < 0 || cols < 0 {
		return nil, fmt.Errorf("tensor: pack %v: negative shape (%d, %d)", t, rows, cols)
	}
	if t != Q8_0 && t != Q4_0 {
		return nil, fmt.Errorf("tensor: pack: %v blocks have no GPU layout (only Q8_0 and Q4_0)", t)
	}
	if err := t.checkSizes(rows*cols, len(raw)); err != nil {
		return nil, fmt.Errorf("pack (%d, %d): %w", rows, cols, err)
	}
	nb := rows * cols / BlockLen
	bb, qw := t.BlockBytes(), t.QuantWords()
	p := &Packed{
		Type: t, Rows: rows, Cols: cols,
		Quants: make([]uint32, nb*qw),
		Scales: make([]uint32, (nb+1)/2),
	}
	for b := range nb {
		blk := raw[b*bb : (b+1)*bb]
		d := uint32(binary.LittleEndian.Uint16(blk))
		p.Scales[b/2] |= d << (16 * (b % 2))
		for w := range qw {
			p.Quants[b*qw+w] = binary.LittleEndian.Uint32(blk[2+4*w:])
		}
	}
	return p, nil
}
