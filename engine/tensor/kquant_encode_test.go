package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// ownEncoders are the types EncodeRows encodes by kquant_encode.go's
// scheme rather than llama.cpp's: no golden bytes, only the bounds here.
var ownEncoders = []Type{Q4_K, Q5_K, Q6_K, IQ4_NL}

// kTestRows returns 48 super-blocks of seeded values: random normals at
// scales 1e-3..1e3, with the special blocks of kSpecial mixed in.
func kTestRows() []float32 {
	rng := rand.New(rand.NewPCG(21, 22))
	x := make([]float32, 48*kBlockLen)
	for b := range 48 {
		blk := x[b*kBlockLen : (b+1)*kBlockLen]
		scale := math.Pow(10, rng.Float64()*6-3)
		for i := range blk {
			blk[i] = float32(rng.NormFloat64() * scale)
		}
		kSpecial(b, blk, rng)
	}
	return x
}

// kSpecial overwrites super-block b with a case the encoders must handle.
func kSpecial(b int, blk []float32, rng *rand.Rand) {
	switch b {
	case 0: // zeros, signed
		for i := range blk {
			blk[i] = float32(math.Copysign(0, float64(i%2)-0.5))
		}
	case 1, 2: // constant, positive then negative
		for i := range blk {
			blk[i] = []float32{0.75, -3}[b-1]
		}
	case 3: // one huge outlier among unit normals
		blk[77] = 1e4
	case 4: // negative only
		for i := range blk {
			blk[i] = -abs32(blk[i]) - 0.01
		}
	case 5: // positive with a large offset: the K-quant mins are clamped at 0
		for i := range blk {
			blk[i] = 100 + blk[i]
		}
	case 6: // each 16 values at its own scale: sub-block scales span 1e6
		for i := range blk {
			blk[i] *= float32(math.Pow(10, float64(i/16%7)-3))
		}
	case 7: // one zero sub-block of 32 in a random block
		clear(blk[96:128])
	case 8: // tiny: the f16 scales are subnormal
		for i := range blk {
			blk[i] = float32(rng.NormFloat64() * 1e-6)
		}
	case 9: // large, still within the f16 scales' range
		for i := range blk {
			blk[i] = float32(rng.NormFloat64() * 1e4)
		}
	}
}

// kRoundTrip encodes x as t and decodes it back.
func kRoundTrip(t *testing.T, typ Type, x []float32) (raw []byte, out []float32) {
	t.Helper()
	raw = make([]byte, rowBytes(t, typ, len(x)))
	if err := EncodeRows(typ, raw, x); err != nil {
		t.Fatal(err)
	}
	out = make([]float32, len(x))
	if err := DecodeRows(typ, out, raw); err != nil {
		t.Fatal(err)
	}
	return raw, out
}

// up is a scale v rounded up to f16: under 2^-10 more, relative, where the
// f16 is normal, under 2^-24 more where it is subnormal.
func up(v float64) float64 { return v*(1+1.0/1024) + 0x1p-24 }

// Per-type error bounds, per value, from the input alone.
//
// Q4_K, Q5_K (top = 15, 31 levels above 0): sub-block j spans
// R_j = max - min(0, min) and needs the step R_j/top; its step d*sc is
// that rounded up to a multiple of d = up(max_j R_j/top / 63), so at most
// d more, and every value inside the span is within half a step. Its
// offset dmin*m is off by at most dmin/2, dmin = up(max_j -min_j / 63),
// which can clip the span's ends by that much:
//
//	|err| <= (R_j/top + d + dmin)/2
//
// relative to the super-block's max |x| = a: R_j <= 2a and -min_j <= a, so
// at most a*(1/top + 2/(top*126) + 1/126): 0.0757 for Q4_K, 0.0409 for Q5_K.
//
// Q6_K: 16-value sub-block s with max |x| a_s takes the step a_s/31 (levels
// -31..31), rounded up to a multiple of d = up(max_s a_s/31 / 127):
// |err| <= (a_s/31 + d)/2, at most a*(1/62 + 1/(31*254)) = 0.0163 a.
//
// IQ4_NL: d = up(a/127) puts x/d in -127..127; the table's widest gap is
// 24 and its top level 113, so |err| <= 14*d (the d = a/113 try is bounded
// by 12*a/113, less): 0.1103 a.
//
// Each bound also allows a*2^-20 of float32 rounding in the arithmetic.
func errBound(typ Type, x []float32) []float64 {
	bound := make([]float64, len(x))
	bl := typ.BlockLen()
	for b := 0; b < len(x); b += bl {
		blk, bd := x[b:b+bl], bound[b:b+bl]
		switch typ {
		case Q4_K:
			boundK(blk, bd, 15)
		case Q5_K:
			boundK(blk, bd, 31)
		case Q6_K:
			boundQ6_K(blk, bd)
		case IQ4_NL:
			a := maxAbs(blk)
			for i := range bd {
				bd[i] = 14 * up(a/127)
			}
		}
		slack := maxAbs(blk) * 0x1p-20
		for i := range bd {
			bd[i] += slack
		}
	}
	return bound
}

func boundK(x []float32, bound []float64, top float64) {
	var r [8]float64
	var maxR, maxOff float64
	for j := range 8 {
		lo, hi := minMax(x[32*j : 32*j+32])
		off := max(0, -float64(lo))
		r[j] = float64(hi) + off
		maxR, maxOff = max(maxR, r[j]), max(maxOff, off)
	}
	d, dmin := up(maxR/top/63), up(maxOff/63)
	for i := range bound {
		bound[i] = (r[i/32]/top + d + dmin) / 2
	}
}

func boundQ6_K(x []float32, bound []float64) {
	var maxA float64
	for s := range 16 {
		maxA = max(maxA, maxAbs(x[16*s:16*s+16]))
	}
	d := up(maxA / 31 / 127)
	for i := range bound {
		bound[i] = (maxAbs(x[i/16*16:i/16*16+16])/31 + d) / 2
	}
}

func maxAbs(x []float32) float64 { return float64(abs32(absMax(x))) }

// relBound is each type's bound relative to the max |x| of its block (the
// super-block for the K-quants), as derived above errBound, plus 2^-20
// absolute: what up's subnormal f16 quantum adds (14*2^-24 for IQ4_NL).
var relBound = map[Type]float64{Q4_K: 0.0758, Q5_K: 0.0410, Q6_K: 0.0164, IQ4_NL: 0.1103}

// TestKQuantRoundTrip checks the errors of decode(encode(x)) against
// errBound's per-value bounds and relBound's per-type ones, and logs the
// largest seen relative to each.
func TestKQuantRoundTrip(t *testing.T) {
	x := kTestRows()
	for _, typ := range ownEncoders {
		_, out := kRoundTrip(t, typ, x)
		bound := errBound(typ, x)
		bl := max(typ.BlockLen(), kBlockLen)
		var worstRel, worstOfBound float64
		for i := range x {
			err := math.Abs(float64(out[i]) - float64(x[i]))
			a := maxAbs(x[i/bl*bl : i/bl*bl+bl])
			if err > bound[i] || err > relBound[typ]*a+0x1p-20 {
				t.Fatalf("%v: x[%d] = %g decoded %g: |err| %g > %g (block max |x| %g)", typ, i, x[i], out[i], err, bound[i], a)
			}
			if a > 0.01 { // f16 scales normal: the absolute term is moot
				worstRel = max(worstRel, err/a)
			}
			if bound[i] > 0 {
				worstOfBound = max(worstOfBound, err/bound[i])
			}
		}
		t.Logf("%v: max |err| = %.4f of the block's max |x| (blocks > 0.01), %.3f of the bound", typ, worstRel, worstOfBound)
	}
}

// TestKQuantZeroAndDeterministic: zero blocks (signed zeros too) encode to
// zero bytes; encoding twice, or block by block, gives the same bytes.
func TestKQuantZeroAndDeterministic(t *testing.T) {
	x := kTestRows()
	for _, typ := range ownEncoders {
		raw, _ := kRoundTrip(t, typ, x)
		if !bytes.Equal(raw[:rowBytes(t, typ, kBlockLen)], make([]byte, rowBytes(t, typ, kBlockLen))) {
			t.Errorf("%v: zero block encoded as %x", typ, raw[:typ.BlockBytes()])
		}
		again, _ := kRoundTrip(t, typ, x)
		if !bytes.Equal(raw, again) {
			t.Errorf("%v: two encodings differ", typ)
		}
		bl, bb := typ.BlockLen(), typ.BlockBytes()
		for b := 0; b < len(x)/bl; b++ {
			one := make([]byte, bb)
			if err := EncodeRows(typ, one, x[b*bl:(b+1)*bl]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(one, raw[b*bb:(b+1)*bb]) {
				t.Fatalf("%v: block %d encoded alone differs", typ, b)
			}
		}
	}
}

// TestPackScaleMinK4 checks packScaleMinK4 against the decoder's
// scaleMinK4 for every scale and min 0..63 in every sub-block position.
func TestPackScaleMinK4(t *testing.T) {
	var q [12]byte
	for a := range 64 {
		for b := range 64 {
			var sc, m [8]uint8
			for j := range 8 {
				sc[j], m[j] = uint8((a+j)%64), uint8((b+5*j)%64)
			}
			packScaleMinK4(q[:], &sc, &m)
			for j := range 8 {
				if gs, gm := scaleMinK4(j, q[:]); gs != sc[j] || gm != m[j] {
					t.Fatalf("sub-block %d: packed (%d, %d), unpacked (%d, %d)", j, sc[j], m[j], gs, gm)
				}
			}
		}
	}
}

// TestKQuantExtremes: finite inputs of any size give finite f16 scales and
// finite decoded values; infinities and NaNs must not panic.
func TestKQuantExtremes(t *testing.T) {
	const big = math.MaxFloat32
	tiny := math.Float32frombits(1)
	fills := []func(i int) float32{
		func(int) float32 { return big },
		func(i int) float32 { return []float32{big, -big}[i%2] },
		func(i int) float32 { return -big },
		func(i int) float32 { return float32(i) * 1e30 },
		func(i int) float32 { return []float32{1e-30, -1e30, tiny}[i%3] },
		func(i int) float32 { return float32(i%7) * tiny },
	}
	for _, typ := range ownEncoders {
		for f, fill := range fills {
			x := make([]float32, kBlockLen)
			for i := range x {
				x[i] = fill(i)
			}
			raw, out := kRoundTrip(t, typ, x)
			checkFiniteScales(t, typ, raw)
			for i, v := range out {
				if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
					t.Fatalf("%v fill %d: x[%d] = %g decoded %g", typ, f, i, x[i], v)
				}
			}
		}
		for _, v := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
			x := make([]float32, kBlockLen)
			x[3], x[200] = float32(v), -1
			kRoundTrip(t, typ, x) // no panic; the bytes are unspecified
		}
	}
}

func checkFiniteScales(t *testing.T, typ Type, raw []byte) {
	t.Helper()
	for b := 0; b < len(raw); b += typ.BlockBytes() {
		for _, off := range f16Offsets(typ) {
			if h := binary.LittleEndian.Uint16(raw[b+off:]); h&0x7c00 == 0x7c00 {
				t.Fatalf("%v: block at byte %d: f16 %#04x at offset %d", typ, b, h, off)
			}
		}
	}
}

func TestKQuantLengthsChecked(t *testing.T) {
	for _, c := range []struct {
		typ           Type
		values, bytes int
	}{
		{Q4_K, 128, 72}, {Q5_K, 255, 176}, {Q6_K, 256, 209}, {IQ4_NL, 33, 18}, {IQ4_NL, 32, 19},
	} {
		if err := EncodeRows(c.typ, make([]byte, c.bytes), make([]float32, c.values)); err == nil {
			t.Errorf("%v: %d values in %d bytes accepted", c.typ, c.values, c.bytes)
		}
	}
}
