package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// EncodeRows stores the values x as type t in out, which must be exactly
// t.RowBytes(len(x)) bytes long. The 32-value linear formats are made as
// llama.cpp's quantize_row_*_ref makes them (llama-quantize without an
// importance matrix), so files written here match llama.cpp's bit for bit;
// Q4_K, Q5_K, Q6_K and IQ4_NL use a simpler one-pass scheme of their own
// (kquant_encode.go), within stated error bounds but not byte-identical.
// CanEncode tells which types have an encoder.
func EncodeRows(t Type, out []byte, x []float32) error {
	if err := t.checkSizes(len(x), len(out)); err != nil {
		return err
	}
	switch t {
	case F32:
		for i, v := range x {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return nil
	case F16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
		return nil
	case BF16:
		for i, v := range x {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
		return nil
	}
	encode := blockEncoder(t)
	if encode == nil {
		return fmt.Errorf("tensor: no encoder for %v", t)
	}
	bl, bb := t.BlockLen(), t.BlockBytes()
	for b := 0; b < len(x)/bl; b++ {
		encode(out[b*bb:(b+1)*bb], x[b*bl:(b+1)*bl])
	}
	return nil
}

// CanEncode reports whether EncodeRows can store values as t.
func CanEncode(t Type) bool {
	return t == F32 || t == F16 || t == BF16 || blockEncoder(t) != nil
}

// Quantize is EncodeRows, under the name the GPU tests use.
func Quantize(t Type, out []byte, x []float32) error { return EncodeRows(t, out, x) }

// QuantizeQ8_0 is EncodeRows(Q8_0, out, x).
func QuantizeQ8_0(out []byte, x []float32) error { return EncodeRows(Q8_0, out, x) }

// QuantizeQ4_0 is EncodeRows(Q4_0, out, x).
func QuantizeQ4_0(out []byte, x []float32) error { return EncodeRows(Q4_0, out, x) }

// blockEncoder returns the function that encodes one block of type t, or
// nil where there is none.
func blockEncoder(t Type) func(blk []byte, x []float32) {
	switch t {
	case Q4_0:
		return encodeQ4_0
	case Q4_1:
		return encodeQ4_1
	case Q5_0:
		return encodeQ5_0
	case Q5_1:
		return encodeQ5_1
	case Q8_0:
		return encodeQ8_0
	case IQ4_NL:
		return encodeIQ4_NL
	case Q4_K:
		return encodeQ4_K
	case Q5_K:
		return encodeQ5_K
	case Q6_K:
		return encodeQ6_K
	}
	return nil
}

// F32ToBF16 rounds a float32 to bfloat16 as ggml's GGML_FP32_TO_BF16 does:
// to nearest, ties to even, subnormals kept; a NaN keeps its top payload
// bits and is made quiet.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + 0x7fff + (u >> 16 & 1)) >> 16)
}

// putF16 stores f rounded to f16 at b[0:2].
func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

// absMax returns the value of largest magnitude in x, sign kept; on ties
// the first one (ggml compares with a strict amax < |v|).
func absMax(x []float32) float32 {
	var amax, vmax float32
	for _, v := range x {
		if amax < abs32(v) {
			amax, vmax = abs32(v), v
		}
	}
	return vmax
}

// minMax returns the smallest and largest value of x, starting from
// +-FLT_MAX and comparing strictly as ggml does (Go's min and max differ
// on NaN and on -0 against +0).
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// inverse is ggml's id = d ? 1/d : 0.
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
