package tensor

import (
	"encoding/binary"
	"math"
)

// DecodeRows expands raw, len(out) values of type t as GGUF stores them,
// into out, bit for bit as llama.cpp's dequantize_row_* does on the CPU.
// len(out) must be a multiple of t.BlockLen() and raw exactly
// t.RowBytes(len(out)) bytes long.
//
// Every product below is rounded to float32 before anything is added to
// it (an explicit float32 conversion): ggml's C computes x*d + m as two
// roundings, and Go would otherwise be free to fuse it into one FMA.
func DecodeRows(t Type, out []float32, raw []byte) error {
	if err := t.checkSizes(len(out), len(raw)); err != nil {
		return err
	}
	bl, bb := t.BlockLen(), t.BlockBytes()
	switch t {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return nil
	case F16:
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return nil
	case BF16:
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return nil
	}
	decode := blockDecoder(t)
	for b := 0; b < len(out)/bl; b++ {
		decode(out[b*bl:(b+1)*bl], raw[b*bb:(b+1)*bb])
	}
	return nil
}

// Decode is DecodeRows, under the name the GPU tests use.
func Decode(t Type, out []float32, blocks []byte) error { return DecodeRows(t, out, blocks) }

// DecodeQ8_0 is DecodeRows(Q8_0, out, blocks).
func DecodeQ8_0(out []float32, blocks []byte) error { return DecodeRows(Q8_0, out, blocks) }

// DecodeQ4_0 is DecodeRows(Q4_0, out, blocks).
func DecodeQ4_0(out []float32, blocks []byte) error { return DecodeRows(Q4_0, out, blocks) }

// blockDecoder returns the function that decodes one block of a supported
// block type into its BlockLen values.
func blockDecoder(t Type) func(out []float32, blk []byte) {
	switch t {
	case Q4_0:
		return decodeQ4_0
	case Q4_1:
		return decodeQ4_1
	case Q5_0:
		return decodeQ5_0
	case Q5_1:
		return decodeQ5_1
	case Q8_0:
		return decodeQ8_0
	case IQ4_NL:
		return decodeIQ4_NL
	case Q4_K:
		return decodeQ4_K
	case Q5_K:
		return decodeQ5_K
	case Q6_K:
		return decodeQ6_K
	}
	return nil // unreachable: checkSizes refused every other type
}

// BF16ToF32 widens a bfloat16 (as its bits) to float32: bf16 is the top
// half of a float32, so this is exact.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f16At reads the little-endian f16 at b[0:2] as a float32.
func f16At(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }
