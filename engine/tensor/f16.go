package tensor

import "math"

// F16ToF32 widens an IEEE-754 binary16 value (as its bits) to float32.
// Every f16 value, subnormals, infinities and NaN payloads included, is
// exactly representable as a float32, so this never rounds.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN: keep the payload in the top mantissa bits
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign) // signed zero
	}
	// Subnormal f16 (mant * 2^-24) is a normal float32: shift the leading
	// one into the implicit bit and lower the exponent to match.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 rounds a float32 to the nearest binary16 value, ties to even (the
// rounding of the F16C instruction and of ggml's GGML_FP32_TO_FP16), with
// gradual underflow to f16 subnormals and overflow to infinity. A NaN stays
// a NaN: its top payload bits are kept and the quiet bit is set.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // the f16 exponent field if the result is normal
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		// Exponent and mantissa rounded together, so a carry out of the
		// mantissa bumps the exponent (and 65520 and up become infinity).
		return sign | uint16(roundShift(uint32(e)<<23|mant, 13))
	}
	if exp == 0 {
		return sign // float32 zero or subnormal: far below 2^-25, rounds to zero
	}
	// Subnormal result: the value is (2^23|mant) * 2^(exp-150) and the f16
	// unit is 2^-24, so shift right by 126-exp (>= 14). Rounding up may give
	// 0x400, which is exactly the smallest normal f16.
	shift := uint(126 - exp)
	if shift > 25 {
		return sign
	}
	return sign | uint16(roundShift(0x800000|mant, shift))
}

// roundShift returns v >> s rounded to nearest, ties to even (1 <= s <= 31).
func roundShift(v uint32, s uint) uint32 {
	q := v >> s
	rem := v & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}
