package tensor

import (
	"encoding/binary"
	"math"
)

// Encoders for Q4_K, Q5_K, Q6_K and IQ4_NL, written from the block layouts
// the decoders read. They are one-pass, with no search for the scales that
// minimise the error as llama.cpp's quantize_row_*_ref do, so their bytes
// differ from llama.cpp's; they exist to write seeded test models.
//
// In the K-quants each sub-block gets the smallest step (a multiple of the
// block's f16 scale) that spans its values, and each value the nearest
// level, so the error is half a step, which rounding the step up to that
// multiple makes at most half a scale quantum larger; in Q4_K and Q5_K the
// rounded sub-block min may also clip the span's ends by half its
// quantum. The f16 scales are rounded up, never to zero or infinity, and
// the quants are made with the very float32 factors the decoder multiplies
// by, so the bounds (kquant_encode_test.go) hold for what DecodeRows
// returns.

// kScales holds the sub-block scales and mins of one Q4_K or Q5_K block and
// the f16 factors (as bits) that they multiply.
type kScales struct {
	d, dmin uint16
	sc, m   [8]uint8
}

// affineK picks the scales of x = (d*sc)*q - dmin*m, q in 0..top, for the
// eight 32-value sub-blocks of x. The offset m is non-negative (dmin is
// shared and the decoder subtracts it), so a sub-block's range starts at
// min(0, its least value).
func affineK(x []float32, top float32) (k kScales) {
	var step, off [8]float32
	var maxStep, maxOff float32
	for j := range 8 {
		lo, hi := minMax(x[32*j : 32*j+32])
		off[j] = max(0, -lo)
		step[j] = (hi + off[j]) / top
		if step[j] > maxStep { // not max(): a NaN step (inf - inf) is skipped
			maxStep = step[j]
		}
		if off[j] > maxOff {
			maxOff = off[j]
		}
	}
	k.d, k.dmin = f16Up(maxStep/63), f16Up(maxOff/63)
	id, idmin := inverse(F16ToF32(k.d)), inverse(F16ToF32(k.dmin))
	for j := range 8 {
		k.sc[j] = uint8(levelUp(float32(step[j]*id), 63))
		k.m[j] = uint8(level(float32(off[j]*idmin), 63))
	}
	return k
}

// quants returns the level 0..top of each of the 256 values of x under k,
// computed with the decoder's own d*sc and dmin*m.
func (k *kScales) quants(x []float32, top int) (q [kBlockLen]uint8) {
	d, dmin := F16ToF32(k.d), F16ToF32(k.dmin)
	for j := range 8 {
		dj, mj := d*float32(k.sc[j]), dmin*float32(k.m[j])
		id := inverse(dj)
		for i := 32 * j; i < 32*j+32; i++ {
			q[i] = uint8(level(float32((x[i]+mj)*id), top))
		}
	}
	return q
}

// put stores d, dmin and the packed scales at the head of a Q4_K or Q5_K
// block.
func (k *kScales) put(blk []byte) {
	binary.LittleEndian.PutUint16(blk, k.d)
	binary.LittleEndian.PutUint16(blk[2:], k.dmin)
	packScaleMinK4(blk[4:16], &k.sc, &k.m)
}

// packScaleMinK4 is the inverse of scaleMinK4: sub-blocks 0-3 keep their
// 6 bits whole in bytes j and j+4; sub-blocks 4-7 put their low nibbles in
// byte j+8 and their top 2 bits in the spare top bits of bytes j and j+4.
func packScaleMinK4(q []byte, sc, m *[8]uint8) {
	for j := range 4 {
		q[j] = sc[j]&63 | sc[j+4]>>4<<6
		q[j+4] = m[j]&63 | m[j+4]>>4<<6
		q[j+8] = sc[j+4]&0x0f | m[j+4]<<4
	}
}

// encodeQ4_K: each run of 64 values shares 32 bytes, the first 32 values
// in the low nibbles and the next 32 in the high ones.
func encodeQ4_K(blk []byte, x []float32) {
	k := affineK(x, 15)
	q := k.quants(x, 15)
	k.put(blk)
	qs := blk[16:144]
	for c := range 4 {
		for l := range 32 {
			qs[32*c+l] = q[64*c+l] | q[64*c+32+l]<<4
		}
	}
}

// encodeQ5_K: as Q4_K with 5-bit levels; run c puts the fifth bits of its
// two halves in bits 2c and 2c+1 of qh[l].
func encodeQ5_K(blk []byte, x []float32) {
	k := affineK(x, 31)
	q := k.quants(x, 31)
	k.put(blk)
	qh, qs := blk[16:48], blk[48:176]
	clear(qh)
	for c := range 4 {
		for l := range 32 {
			lo, hi := q[64*c+l], q[64*c+32+l]
			qs[32*c+l] = lo&0x0f | hi<<4
			qh[l] |= lo>>4<<(2*c) | hi>>4<<(2*c+1)
		}
	}
}

// encodeQ6_K: sixteen 16-value sub-blocks, x = (d*sc)*(q-32). Levels
// -31..31 are used, so the step is a sub-block's max |x| / 31 and the
// symmetric range needs no sign trick; sc is 0..127 of the int8.
func encodeQ6_K(blk []byte, x []float32) {
	var step [16]float32
	var maxStep float32
	for s := range 16 {
		step[s] = abs32(absMax(x[16*s:16*s+16])) / 31
		maxStep = max(maxStep, step[s])
	}
	h := f16Up(maxStep / 127)
	d := F16ToF32(h)
	id := inverse(d)
	var q [kBlockLen]uint8
	for s := range 16 {
		sc := levelUp(float32(step[s]*id), 127)
		blk[192+s] = byte(sc)
		ds := d * float32(sc)
		if ds == 0 {
			continue // every level decodes to 0: keep q = 0, zero bytes
		}
		ids := 1 / ds
		for i := 16 * s; i < 16*s+16; i++ {
			q[i] = uint8(level(float32(x[i]*ids)+32, 63))
		}
	}
	packQ6_K(blk, &q)
	binary.LittleEndian.PutUint16(blk[208:], h)
}

// packQ6_K splits 6-bit levels as decodeQ6_K reads them: in each half of
// 128 values, value i = 32k + l has its low nibble in ql[l+32*(k&1)]
// (the high nibble when k >= 2) and its top 2 bits at bit 2k of qh[l].
func packQ6_K(blk []byte, q *[kBlockLen]uint8) {
	clear(blk[:192])
	for h := range 2 {
		ql, qh := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32]
		for i := range 128 {
			k, l, v := i/32, i%32, q[128*h+i]
			ql[l+32*(k&1)] |= v & 0x0f << (4 * (k >> 1))
			qh[l] |= v >> 4 << (2 * k)
		}
	}
}

// iq4nlTops are the table levels tried for the value of largest
// magnitude: -127 gives the finest step, but the opposite extreme then
// falls at +127, 14 steps past the top level 113; mapping it to 113 keeps
// both extremes inside the table at a coarser step.
var iq4nlTops = [...]float32{-127, 113}

// encodeIQ4_NL tries d = max/top for each of iq4nlTops, maps each value to
// its nearest level, and keeps the d with the smaller squared error.
func encodeIQ4_NL(blk []byte, x []float32) {
	vmax := absMax(x)
	if vmax == 0 {
		clear(blk) // d = 0: zero bytes, as every level decodes to 0
		return
	}
	h := f16UpSigned(vmax / iq4nlTops[0])
	best, bestErr := iq4nlLevels(x, F16ToF32(h))
	for _, top := range iq4nlTops[1:] {
		ht := f16UpSigned(vmax / top)
		if q, err := iq4nlLevels(x, F16ToF32(ht)); err < bestErr {
			best, bestErr, h = q, err, ht
		}
	}
	binary.LittleEndian.PutUint16(blk, h)
	for j := range BlockLen / 2 {
		blk[2+j] = best[j] | best[j+BlockLen/2]<<4
	}
}

// iq4nlLevels returns the nearest table index of each x/d and the squared
// error of the decoded block (float64, so huge values do not overflow).
func iq4nlLevels(x []float32, d float32) (q [BlockLen]uint8, err float64) {
	id := inverse(d)
	for j, v := range x {
		q[j] = nearestIQ4NL(float32(v * id))
		e := float64(v) - float64(d*float32(iq4nlValues[q[j]]))
		err += e * e
	}
	return q, err
}

// nearestIQ4NL returns the index of the table level nearest v (the lower
// on a tie, index 0 for NaN).
func nearestIQ4NL(v float32) uint8 {
	var best uint8
	for i := uint8(1); i < 16; i++ {
		if abs32(v-float32(iq4nlValues[i])) < abs32(v-float32(iq4nlValues[best])) {
			best = i
		}
	}
	return best
}

// level rounds v to the nearest integer in 0..top, halves up; NaN gives 0.
// Callers pass an explicitly rounded float32, so v+0.5 cannot be fused
// with the product that made v.
func level(v float32, top int) int {
	if !(v > 0) {
		return 0
	}
	if v >= float32(top) {
		return top
	}
	return int(v + 0.5)
}

// levelUp is level rounding up: the sub-block scales use it so that
// d*sc is never less than the step the sub-block needs.
func levelUp(v float32, top int) int {
	if !(v > 0) {
		return 0
	}
	if v >= float32(top) {
		return top
	}
	n := int(v)
	if float32(n) < v {
		n++
	}
	return n
}

// f16Up returns the least f16 >= v (v >= 0, NaN-free), or the largest
// finite f16 when v is beyond it. Rounding up keeps top*d >= every step,
// and a positive v from becoming a zero scale.
func f16Up(v float32) uint16 {
	h := F32ToF16(v)
	if h >= 0x7c00 {
		return 0x7bff
	}
	if F16ToF32(h) < v {
		h++
	}
	return min(h, 0x7bff)
}

// f16UpSigned is f16Up of |v| with v's sign: |x/d| never exceeds the top
// level it was aimed at.
func f16UpSigned(v float32) uint16 {
	return f16Up(abs32(v)) | uint16(math.Float32bits(v)>>16)&0x8000
}
