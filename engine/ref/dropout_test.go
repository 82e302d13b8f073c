package ref

import (
	"math"
	"testing"
)

// TestDropoutKeepRate: over 2^20 elements the kept share is 1-p within 5
// standard deviations, for several p and seeds, and two consecutive seeds
// agree on about as many elements as independent masks would.
func TestDropoutKeepRate(t *testing.T) {
	const n = 1 << 20
	for _, p := range []float64{0.05, 0.1, 0.5, 0.9} {
		for _, seed := range []uint32{0, 1, 0xFFFFFFFF} {
			kept, same := 0, 0
			for i := range uint32(n) {
				k := DropoutKeep(seed, i, p)
				if k {
					kept++
				}
				if k == DropoutKeep(seed+1, i, p) {
					same++
				}
			}
			sigma := math.Sqrt(n * p * (1 - p))
			if d := math.Abs(float64(kept) - n*(1-p)); d > 5*sigma {
				t.Errorf("p=%g seed=%d: kept %d of %d, want %.0f +- %.0f", p, seed, kept, n, n*(1-p), 5*sigma)
			}
			// Independent masks agree with probability p^2 + (1-p)^2.
			agree := p*p + (1-p)*(1-p)
			if d := math.Abs(float64(same) - n*agree); d > 5*math.Sqrt(n*agree*(1-agree)) {
				t.Errorf("p=%g seeds %d and %d: %d of %d elements agree, want about %.0f", p, seed, seed+1, same, n, n*agree)
			}
		}
	}
}

// TestDropoutHashIsBijective: for one seed no two of the first 2^20
// elements share a random word.
func TestDropoutHashIsBijective(t *testing.T) {
	seen := make(map[uint32]uint32, 1<<20)
	for i := range uint32(1 << 20) {
		h := DropoutHash(42, i)
		if j, ok := seen[h]; ok {
			t.Fatalf("DropoutHash(42, %d) = DropoutHash(42, %d) = %#x", i, j, h)
		}
		seen[h] = i
	}
}

// TestDropoutForwardBackward: p = 0 copies, dropped elements are 0, kept
// ones scaled by 1/(1-p), and the backward applies the same mask,
// accumulating.
func TestDropoutForwardBackward(t *testing.T) {
	const n, p, seed = 1000, 0.3, 9
	inp := make([]float32, n)
	for i := range inp {
		inp[i] = float32(i) + 1
	}
	out := make([]float32, n)
	DropoutForward(out, inp, seed, 0)
	for i := range out {
		if out[i] != inp[i] {
			t.Fatalf("p=0: out[%d] = %g, want %g", i, out[i], inp[i])
		}
	}
	DropoutForward(out, inp, seed, p)
	dinp := make([]float32, n)
	for i := range dinp {
		dinp[i] = 1
	}
	DropoutBackward(dinp, inp, seed, p)
	scale := float32(1 / (1 - p))
	for i := range out {
		keep := DropoutKeep(seed, uint32(i), p)
		want := float32(0)
		if keep {
			want = inp[i] * scale
		}
		if out[i] != want || dinp[i] != 1+want {
			t.Fatalf("[%d] keep=%v: out %g dinp %g, want %g and %g", i, keep, out[i], dinp[i], want, 1+want)
		}
	}
}
