package tensor

import (
	"math"
	"testing"
)

func TestF16Known(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},                          // largest finite
		{0x0400, float32(math.Ldexp(1, -14))},    // smallest normal
		{0x0001, float32(math.Ldexp(1, -24))},    // smallest subnormal
		{0x03ff, float32(math.Ldexp(1023, -24))}, // largest subnormal
		{0x8001, -float32(math.Ldexp(1, -24))},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := F16ToF32(c.h); got != c.f {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", c.h, got, c.f)
		}
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if got := F16ToF32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("F16ToF32(0x8000) = %g, want -0", got)
	}
	if got := F32ToF16(float32(math.Copysign(0, -1))); got != 0x8000 {
		t.Errorf("F32ToF16(-0) = %#04x, want 0x8000", got)
	}
}

func TestF16Rounding(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{1 + 1.0/2048, 0x3c00},           // tie, even stays down
		{1 + 3.0/2048, 0x3c02},           // tie, odd goes up
		{65519.99, 0x7bff},               // below the overflow threshold
		{65520, 0x7c00},                  // tie between 65504 and 2^16 rounds to even: infinity
		{1e10, 0x7c00},                   // overflow
		{float32(math.Ldexp(1, -25)), 0}, // half the smallest subnormal: tie to even zero
		{float32(math.Ldexp(1.5, -25)), 0x0001},
		{float32(math.Ldexp(3, -25)), 0x0002},    // 1.5 units: tie to even 2
		{float32(math.Ldexp(2047, -25)), 0x0400}, // rounds up out of the subnormals
		{float32(math.Ldexp(1, -30)), 0},
		{math.Float32frombits(1), 0}, // float32 subnormal
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
}

// TestF16AllValues checks every f16 bit pattern: widening then narrowing
// is the identity, and each midpoint between neighbours rounds to the even
// one while the float32s just beside it round to the nearer one.
func TestF16AllValues(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			if !math.IsNaN(float64(f)) || F32ToF16(f)&0x7fff < 0x7e00 {
				t.Fatalf("NaN %#04x: widened to %g, narrowed to %#04x", h, f, F32ToF16(f))
			}
			continue
		}
		if back := F32ToF16(f); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x) = %g) = %#04x", h, f, back)
		}
		if h&0x7fff >= 0x7bff { // no finite upper neighbour
			continue
		}
		up := F16ToF32(h + 1)
		mid := float32((float64(f) + float64(up)) / 2) // exact: needs 12 significant bits
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		if got := F32ToF16(mid); got != even {
			t.Fatalf("midpoint %g of %#04x and %#04x rounded to %#04x, want %#04x", mid, h, h+1, got, even)
		}
		below, above := math.Nextafter32(mid, 0), math.Nextafter32(mid, 2*mid)
		if got := F32ToF16(below); got != h {
			t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", below, got, h)
		}
		if got := F32ToF16(above); got != h+1 {
			t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", above, got, h+1)
		}
	}
}
