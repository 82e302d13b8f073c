package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"

	"webpeft/engine/tensor"
)

// DType is an element type as a safetensors header spells it ("F32",
// "BF16", ...). Any type the format defines may appear in a file; only F32,
// F16 and BF16 can be read as float32 weights, and I32/I64 as raw bytes.
type DType string

// The element types webpeft reads. The header may also list the others in
// dtypeTable (U8, F64, ...); those tensors are indexed but refused as
// weights, by name.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I32  DType = "I32"
	I64  DType = "I64"
)

// dtypeInfo is one element type of the format.
type dtypeInfo struct {
	name DType
	bits int64 // element size in bits: F4 and F6 are narrower than a byte
}

// dtypeTable lists every type of the reference implementation (the Rust
// crate's Dtype enum) in its declaration order, which is increasing
// alignment: its writer lays tensors out by descending position in this
// table, then by name, and so does Write.
var dtypeTable = [...]dtypeInfo{
	{"BOOL", 8}, {"F4", 4}, {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8}, {"I8", 8},
	{"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8},
	{"I16", 16}, {"U16", 16}, {F16, 16}, {BF16, 16}, {I32, 32}, {"U32", 32}, {F32, 32},
	{"C64", 64}, {"F64", 64}, {I64, 64}, {"U64", 64},
}

// lookup returns d's position in dtypeTable and its size in bits.
func (d DType) lookup() (rank int, bits int64, ok bool) {
	for i, t := range dtypeTable {
		if t.name == d {
			return i, t.bits, true
		}
	}
	return 0, 0, false
}

// Size is the size of one element in bytes (0 for unknown types and for
// F4/F6, whose elements are not whole bytes).
func (d DType) Size() int64 {
	_, bits, ok := d.lookup()
	if !ok || bits%8 != 0 {
		return 0
	}
	return bits / 8
}

// isFloat reports whether ReadF32 can convert d exactly to float32.
func (d DType) isFloat() bool { return d == F32 || d == F16 || d == BF16 }

// DecodeF32 converts little-endian F32, F16 or BF16 elements in raw to
// float32 in out (len(raw) == len(out)*d.Size()). Every value of these
// types is exactly a float32, so nothing is rounded.
func DecodeF32(d DType, out []float32, raw []byte) error {
	if !d.isFloat() {
		return fmt.Errorf("safetensors: %s elements cannot be read as float32 (only F32, F16 and BF16)", d)
	}
	if int64(len(raw)) != int64(len(out))*d.Size() {
		return fmt.Errorf("safetensors: %d bytes of %s for %d values", len(raw), d, len(out))
	}
	switch d {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = tensor.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = bf16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return nil
}

// EncodeF32 converts x to little-endian F32, F16 or BF16 bytes, rounding to
// nearest, ties to even (as PyTorch's .to(dtype) does).
func EncodeF32(d DType, x []float32) ([]byte, error) {
	if !d.isFloat() {
		return nil, fmt.Errorf("safetensors: cannot encode float32 as %s (only F32, F16 and BF16)", d)
	}
	out := make([]byte, int64(len(x))*d.Size())
	switch d {
	case F32:
		for i, v := range x {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], tensor.F32ToF16(v))
		}
	case BF16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], f32ToBF16(v))
		}
	}
	return out, nil
}

// bf16ToF32: bfloat16 is the top half of a float32, so widening is a shift.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 keeps the top 16 bits of f, rounded to nearest, ties to even
// (PyTorch's round_to_nearest_even); a carry out of the mantissa correctly
// bumps the exponent, up to infinity. A NaN stays a NaN: its top payload
// bits are kept and the quiet bit set, so it cannot round to infinity.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
