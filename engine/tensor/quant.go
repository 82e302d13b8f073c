package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// QuantType names a GGUF block-quantized tensor type. The values are GGML's
// type ids, as written in GGUF tensor infos.
type QuantType int

const (
	Q4_0 QuantType = 2 // block of 32: f16 d, 16 bytes of nibbles; x = (q-8)*d
	Q8_0 QuantType = 8 // block of 32: f16 d, 32 int8; x = q*d
)

// BlockLen is the number of values in one Q4_0 or Q8_0 block.
const BlockLen = 32

func (t QuantType) String() string {
	switch t {
	case Q4_0:
		return "Q4_0"
	case Q8_0:
		return "Q8_0"
	}
	return fmt.Sprintf("QuantType(%d)", int(t))
}

// BlockBytes is the size of one GGUF block: 34 for Q8_0, 18 for Q4_0.
func (t QuantType) BlockBytes() int {
	switch t {
	case Q4_0:
		return 2 + BlockLen/2
	case Q8_0:
		return 2 + BlockLen
	}
	return 0
}

// RowBytes is the GGUF size of n values (n a multiple of BlockLen).
func (t QuantType) RowBytes(n int) int { return n / BlockLen * t.BlockBytes() }

func (t QuantType) check(values, bytes int) error {
	if t.BlockBytes() == 0 {
		return fmt.Errorf("tensor: %v is not a supported block type", t)
	}
	if values%BlockLen != 0 {
		return fmt.Errorf("tensor: %v: %d values is not a multiple of %d", t, values, BlockLen)
	}
	if bytes != t.RowBytes(values) {
		return fmt.Errorf("tensor: %v: %d values need %d bytes of blocks, have %d", t, values, t.RowBytes(values), bytes)
	}
	return nil
}

// Decode expands GGUF blocks of type t into out (len(out) values, a
// multiple of 32), exactly as ggml's dequantize_row_* does.
func Decode(t QuantType, out []float32, blocks []byte) error {
	if err := t.check(len(out), len(blocks)); err != nil {
		return err
	}
	bb := t.BlockBytes()
	for i := 0; i < len(out)/BlockLen; i++ {
		blk, dst := blocks[i*bb:(i+1)*bb], out[i*BlockLen:(i+1)*BlockLen]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		if t == Q8_0 {
			decodeQ8_0(dst, d, blk[2:])
		} else {
			decodeQ4_0(dst, d, blk[2:])
		}
	}
	return nil
}

// Quantize packs x (a multiple of 32 values) into GGUF blocks of type t in
// out, exactly as ggml's quantize_row_*_ref does (llama-quantize without an
// importance matrix), so files written here match llama.cpp's bit for bit.
func Quantize(t QuantType, out []byte, x []float32) error {
	if err := t.check(len(x), len(out)); err != nil {
		return err
	}
	bb := t.BlockBytes()
	for i := 0; i < len(x)/BlockLen; i++ {
		src, blk := x[i*BlockLen:(i+1)*BlockLen], out[i*bb:(i+1)*bb]
		var d float32
		if t == Q8_0 {
			d = quantizeQ8_0(blk[2:], src)
		} else {
			d = quantizeQ4_0(blk[2:], src)
		}
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
	}
	return nil
}

// DecodeQ8_0 is Decode(Q8_0, out, blocks).
func DecodeQ8_0(out []float32, blocks []byte) error { return Decode(Q8_0, out, blocks) }

// DecodeQ4_0 is Decode(Q4_0, out, blocks).
func DecodeQ4_0(out []float32, blocks []byte) error { return Decode(Q4_0, out, blocks) }

// QuantizeQ8_0 is Quantize(Q8_0, out, x).
func QuantizeQ8_0(out []byte, x []float32) error { return Quantize(Q8_0, out, x) }

// QuantizeQ4_0 is Quantize(Q4_0, out, x).
func QuantizeQ4_0(out []byte, x []float32) error { return Quantize(Q4_0, out, x) }

// decodeQ8_0: x[j] = qs[j]*d. The product of an int8 and an f16 value is
// exact in float32, so any evaluation order gives the same bits.
func decodeQ8_0(out []float32, d float32, qs []byte) {
	for j := range BlockLen {
		out[j] = float32(int8(qs[j])) * d
	}
}

// decodeQ4_0: byte j holds element j in its low nibble and element j+16 in
// its high nibble; x = (q-8)*d, again exact in float32.
func decodeQ4_0(out []float32, d float32, qs []byte) {
	for j := range BlockLen / 2 {
		out[j] = float32(int(qs[j]&0x0f)-8) * d
		out[j+BlockLen/2] = float32(int(qs[j]>>4)-8) * d
	}
}

// quantizeQ8_0 mirrors quantize_row_q8_0_ref: d = amax/127 and
// q = roundf(x/d), where x/d is computed as x*(1/d) in float32. It returns
// d before its rounding to f16 (the quants are made with the f32 d, as in
// ggml). Every float32 product is converted explicitly so that Go never
// fuses it into an FMA, which would change the rounding.
func quantizeQ8_0(qs []byte, x []float32) float32 {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	for j, v := range x {
		qs[j] = byte(int8(math.Round(float64(float32(v * id))))) // math.Round rounds half away from zero, as roundf
	}
	return d
}

// quantizeQ4_0 mirrors quantize_row_q4_0_ref: the value of largest
// magnitude (the first one on ties, sign kept) maps to -8, d = max/-8, and
// q = min(15, trunc(x*(1/d) + 8.5)).
func quantizeQ4_0(qs []byte, x []float32) float32 {
	var amax, vmax float32
	for _, v := range x {
		if amax < abs32(v) {
			amax, vmax = abs32(v), v
		}
	}
	d := vmax / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	const half = BlockLen / 2
	for j := range half {
		lo := min(15, int(float32(float32(x[j]*id)+8.5)))
		hi := min(15, int(float32(float32(x[j+half]*id)+8.5)))
		qs[j] = byte(lo) | byte(hi)<<4
	}
	return d
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
