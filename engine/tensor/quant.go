package tensor

import (
	"encoding/binary"
	"math"
)

// The 32-value block formats of ggml-common.h (block_q4_0 ... block_iq4_nl):
// one or two f16 scales, then the quants. Decoders mirror dequantize_row_*,
// encoders quantize_row_*_ref.

// decodeQ8_0: x[j] = q[j]*d.
func decodeQ8_0(out []float32, blk []byte) {
	d, qs := f16At(blk), blk[2:]
	for j := range BlockLen {
		out[j] = float32(int8(qs[j])) * d
	}
}

// decodeQ4_0: byte j holds element j in its low nibble and element j+16
// in its high nibble; x = (q-8)*d.
func decodeQ4_0(out []float32, blk []byte) {
	d, qs := f16At(blk), blk[2:]
	for j := range BlockLen / 2 {
		out[j] = float32(int(qs[j]&0x0f)-8) * d
		out[j+BlockLen/2] = float32(int(qs[j]>>4)-8) * d
	}
}

// decodeQ4_1: nibbles as Q4_0, unsigned, with a min: x = q*d + m.
func decodeQ4_1(out []float32, blk []byte) {
	d, m, qs := f16At(blk), f16At(blk[2:]), blk[4:]
	for j := range BlockLen / 2 {
		out[j] = float32(float32(qs[j]&0x0f)*d) + m
		out[j+BlockLen/2] = float32(float32(qs[j]>>4)*d) + m
	}
}

// fifthBits returns the 5-bit quants of elements j and j+16 of a Q5_0 or
// Q5_1 block: the nibbles of qs[j], topped by bits j and j+16 of qh.
func fifthBits(qh uint32, qs []byte, j int) (lo, hi int) {
	lo = int(qs[j]&0x0f) | int(qh>>j&1)<<4
	hi = int(qs[j]>>4) | int(qh>>(j+16)&1)<<4
	return lo, hi
}

// decodeQ5_0: x = (q-16)*d with 5-bit q.
func decodeQ5_0(out []float32, blk []byte) {
	d, qh, qs := f16At(blk), binary.LittleEndian.Uint32(blk[2:]), blk[6:]
	for j := range BlockLen / 2 {
		lo, hi := fifthBits(qh, qs, j)
		out[j] = float32(lo-16) * d
		out[j+BlockLen/2] = float32(hi-16) * d
	}
}

// decodeQ5_1: x = q*d + m with 5-bit q.
func decodeQ5_1(out []float32, blk []byte) {
	d, m := f16At(blk), f16At(blk[2:])
	qh, qs := binary.LittleEndian.Uint32(blk[4:]), blk[8:]
	for j := range BlockLen / 2 {
		lo, hi := fifthBits(qh, qs, j)
		out[j] = float32(float32(lo)*d) + m
		out[j+BlockLen/2] = float32(float32(hi)*d) + m
	}
}

// iq4nlValues is IQ4_NL's table of 16 non-linear levels (kvalues_iq4nl).
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// decodeIQ4_NL: x = d * table[q], nibbles laid out as Q4_0.
func decodeIQ4_NL(out []float32, blk []byte) {
	d, qs := f16At(blk), blk[2:]
	for j := range BlockLen / 2 {
		out[j] = d * float32(iq4nlValues[qs[j]&0x0f])
		out[j+BlockLen/2] = d * float32(iq4nlValues[qs[j]>>4])
	}
}

// encodeQ8_0 mirrors quantize_row_q8_0_ref: d = amax/127 and
// q = roundf(x*(1/d)), half away from zero (math.Round). The quants are
// made with the f32 d, then d is stored as f16.
func encodeQ8_0(blk []byte, x []float32) {
	var amax float32
	for _, v := range x {
		if !(amax > abs32(v)) { // ggml's MAX(amax, |v|), NaN included
			amax = abs32(v)
		}
	}
	d := amax / 127
	id := inverse(d)
	for j, v := range x {
		blk[2+j] = byte(int8(math.Round(float64(v * id))))
	}
	putF16(blk, d)
}

// encodeQ4_0 mirrors quantize_row_q4_0_ref: the value of largest
// magnitude maps to -8, d = max/-8, q = min(15, trunc(x*(1/d) + 8.5)).
func encodeQ4_0(blk []byte, x []float32) {
	d := absMax(x) / -8
	id := inverse(d)
	for j := range BlockLen / 2 {
		lo := min(15, int(float32(x[j]*id)+8.5))
		hi := min(15, int(float32(x[j+BlockLen/2]*id)+8.5))
		blk[2+j] = byte(lo) | byte(hi)<<4
	}
	putF16(blk, d)
}

// encodeQ4_1 mirrors quantize_row_q4_1_ref: d = (max-min)/15, m = min,
// q = min(15, trunc((x-min)*(1/d) + 0.5)).
func encodeQ4_1(blk []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	id := inverse(d)
	for j := range BlockLen / 2 {
		q0 := min(15, int(float32((x[j]-lo)*id)+0.5))
		q1 := min(15, int(float32((x[j+BlockLen/2]-lo)*id)+0.5))
		blk[4+j] = byte(q0) | byte(q1)<<4
	}
	putF16(blk, d)
	putF16(blk[2:], lo)
}

// encodeQ5_0 mirrors quantize_row_q5_0_ref: as Q4_0 with d = max/-16 and
// q = min(31, trunc(x*(1/d) + 16.5)); the fifth bits go to qh.
func encodeQ5_0(blk []byte, x []float32) {
	d := absMax(x) / -16
	id := inverse(d)
	var q [BlockLen]int
	for j, v := range x {
		q[j] = min(31, int(float32(v*id)+16.5))
	}
	putFifthBits(blk[2:6], blk[6:22], &q)
	putF16(blk, d)
}

// encodeQ5_1 mirrors quantize_row_q5_1_ref: d = (max-min)/31, m = min,
// q = trunc((x-min)*(1/d) + 0.5) with no clamp, so a value that rounds to
// 32 keeps only its low five bits (0), exactly as ggml stores it.
func encodeQ5_1(blk []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	id := inverse(d)
	var q [BlockLen]int
	for j, v := range x {
		q[j] = int(uint8(int(float32((v-lo)*id) + 0.5)))
	}
	putFifthBits(blk[4:8], blk[8:24], &q)
	putF16(blk, d)
	putF16(blk[2:], lo)
}

// putFifthBits splits 32 5-bit quants into nibbles (element j low, j+16
// high, as Q4_0) and a little-endian word of fifth bits (bit j for
// element j).
func putFifthBits(qh, qs []byte, q *[BlockLen]int) {
	var h uint32
	for j := range BlockLen / 2 {
		lo, hi := q[j], q[j+BlockLen/2]
		qs[j] = byte(lo&0x0f) | byte(hi&0x0f)<<4
		h |= uint32(lo>>4&1)<<j | uint32(hi>>4&1)<<(j+BlockLen/2)
	}
	binary.LittleEndian.PutUint32(qh, h)
}
