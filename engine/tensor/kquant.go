package tensor

// The K-quants store 256 values in one super-block of sub-blocks; the
// layouts below are ggml-common.h's block_q4_K, block_q5_K and block_q6_K.

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from
// the 12 packed bytes of a Q4_K or Q5_K block: sub-blocks 0-3 keep theirs
// in the low 6 bits of bytes j and j+4; sub-blocks 4-7 split theirs into a
// nibble of byte j+4 and the top 2 bits of bytes j-4 and j.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	sc = q[j+4]&0x0f | q[j-4]>>6<<4
	m = q[j+4]>>4 | q[j]>>6<<4
	return sc, m
}

// decodeQ4_K: f16 d, f16 dmin, 12 bytes of scales and mins, 128 bytes of
// nibbles. Each run of 64 values is two sub-blocks sharing 32 bytes: the
// low nibbles first, then the high ones; x = (d*sc)*q - dmin*m.
func decodeQ4_K(out []float32, blk []byte) {
	d, dmin := f16At(blk), f16At(blk[2:])
	scales, qs := blk[4:16], blk[16:]
	for c := range 4 {
		q := qs[32*c : 32*c+32]
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, min1 := d*float32(sc1), dmin*float32(m1)
		d2, min2 := d*float32(sc2), dmin*float32(m2)
		y := out[64*c : 64*c+64]
		for l := range 32 {
			y[l] = float32(d1*float32(q[l]&0x0f)) - min1
			y[l+32] = float32(d2*float32(q[l]>>4)) - min2
		}
	}
}

// decodeQ5_K: as Q4_K, with 32 bytes of fifth bits after the scales; run
// c takes its two sub-blocks' fifth bits from bits 2c and 2c+1 of qh[l].
func decodeQ5_K(out []float32, blk []byte) {
	d, dmin := f16At(blk), f16At(blk[2:])
	scales, qh, qs := blk[4:16], blk[16:48], blk[48:]
	for c := range 4 {
		q := qs[32*c : 32*c+32]
		sc1, m1 := scaleMinK4(2*c, scales)
		sc2, m2 := scaleMinK4(2*c+1, scales)
		d1, min1 := d*float32(sc1), dmin*float32(m1)
		d2, min2 := d*float32(sc2), dmin*float32(m2)
		y := out[64*c : 64*c+64]
		for l := range 32 {
			lo := int(q[l]&0x0f) | int(qh[l]>>(2*c)&1)<<4
			hi := int(q[l]>>4) | int(qh[l]>>(2*c+1)&1)<<4
			y[l] = float32(d1*float32(lo)) - min1
			y[l+32] = float32(d2*float32(hi)) - min2
		}
	}
}

// decodeQ6_K: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 int8
// scales, f16 d. Each half of 128 values takes 64 low-nibble bytes and 32
// high bytes; x = (d*sc)*(q-32), sub-blocks of 16 values.
func decodeQ6_K(out []float32, blk []byte) {
	d := f16At(blk[208:])
	for h := range 2 {
		ql, qh := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32]
		sc, y := blk[192+8*h:192+8*h+8], out[128*h:128*h+128]
		for l := range 32 {
			is := l / 16
			q := [4]int{
				int(ql[l]&0x0f | qh[l]&3<<4),
				int(ql[l+32]&0x0f | qh[l]>>2&3<<4),
				int(ql[l]>>4 | qh[l]>>4&3<<4),
				int(ql[l+32]>>4 | qh[l]>>6&3<<4),
			}
			for k := range 4 {
				ds := d * float32(int8(sc[is+2*k]))
				y[l+32*k] = ds * float32(q[k]-32)
			}
		}
	}
}
