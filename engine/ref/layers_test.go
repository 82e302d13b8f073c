package ref

import (
	"math"
	"testing"
)

// near fails t when got and want differ anywhere by more than tol.
func near[F ~float32 | ~float64](t *testing.T, what string, got []F, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			t.Errorf("%s = %v, want %v (index %d off by %.3g)", what, got, want, i, d)
			return
		}
	}
}

func TestRMSNormForward(t *testing.T) {
	// Row (3, 4): mean square 12.5; row (0, 0) with eps: all zero.
	inp := []float32{3, 4, 0, 0}
	out := make([]float32, 4)
	rstd := make([]float32, 2)
	RMSNormForward(out, rstd, inp, []float32{1, 2}, 1, 2, 2, 0)
	s := 1 / math.Sqrt(12.5)
	near(t, "out", out[:2], []float64{3 * s, 8 * s}, 3e-7)
	near(t, "rstd", rstd[:1], []float64{s}, 1e-7)

	RMSNormForward(out, rstd, inp, []float32{1, 2}, 2, 1, 2, 1)
	near(t, "with eps", out, []float64{3 / math.Sqrt(13.5), 8 / math.Sqrt(13.5), 0, 0}, 3e-7)
	near(t, "rstd with eps", rstd, []float64{1 / math.Sqrt(13.5), 1}, 1e-7)

	// In place, no rstd.
	x := []float64{-2, 2}
	RMSNormForward(x, nil, x, []float64{1, 1}, 1, 1, 2, 0)
	near(t, "in place", x, []float64{-1, 1}, 1e-15)
}

func TestLayerNormForward(t *testing.T) {
	// Row (1, 3): mean 2, variance 1, so normalized (-1, 1).
	inp := []float64{1, 3, 5, 5}
	out := make([]float64, 4)
	mean := make([]float64, 2)
	rstd := make([]float64, 2)
	LayerNormForward(out, mean, rstd, inp, []float64{2, 3}, []float64{0.5, -0.5}, 1, 2, 2, 0)
	near(t, "out", out[:2], []float64{-1.5, 2.5}, 1e-15)
	near(t, "mean", mean[:1], []float64{2}, 1e-15)
	near(t, "rstd", rstd[:1], []float64{1}, 1e-15)

	// Without bias; a constant row (5, 5) normalizes to 0 (eps keeps it finite).
	LayerNormForward(out, nil, nil, inp, []float64{2, 3}, nil, 2, 1, 2, 1e-5)
	near(t, "no bias", out, []float64{-2 / math.Sqrt(1+1e-5), 3 / math.Sqrt(1+1e-5), 0, 0}, 1e-15)
}

func TestRopeForwardPositionZeroIsIdentity(t *testing.T) {
	inp := []float32{0.5, -1, 2, 3, 7, -8, 0.25, 1}
	for _, pairs := range []RopePairs{RopeInterleaved, RopeHalf} {
		out := make([]float32, len(inp))
		RopeForward(out, inp, []int{0}, 1, 1, 2, 4, 10000, pairs)
		for i := range inp {
			if out[i] != inp[i] {
				t.Fatalf("pairs %d: out = %v, want %v", pairs, out, inp)
			}
		}
	}
}

func TestRopeForwardHandChecked(t *testing.T) {
	// HS = 4, theta = 100: frequencies 1 and 100^(-1/2) = 0.1. At position
	// 1 a unit vector on the first dimension of each pair turns to
	// (cos a, sin a).
	c1, s1, c2, s2 := math.Cos(1), math.Sin(1), math.Cos(0.1), math.Sin(0.1)
	x := []float64{1, 0, 1, 0}
	RopeForward(x, x, []int{1}, 1, 1, 1, 4, 100, RopeInterleaved)
	near(t, "interleaved", x, []float64{c1, s1, c2, s2}, 1e-15)

	x = []float64{1, 1, 0, 0} // pairs (0, 2) and (1, 3)
	RopeForward(x, x, []int{1}, 1, 1, 1, 4, 100, RopeHalf)
	near(t, "half", x, []float64{c1, c2, s1, s2}, 1e-15)

	// Position 2, second token of a (B=1, T=2) sequence: angle 2.
	y := []float64{9, 9, 0, 1}
	RopeForward(y, y, []int{5, 2}, 1, 2, 1, 2, 100, RopeInterleaved)
	near(t, "position 2", y[2:], []float64{-math.Sin(2), math.Cos(2)}, 1e-15)
}

// TestRopeForwardRelative: a rotated query and key have a dot product that
// depends only on the distance between their positions.
func TestRopeForwardRelative(t *testing.T) {
	const HS = 8
	q := []float64{0.3, -1, 2, 0.5, 1, 1, -0.7, 0.2}
	k := []float64{1, 0.4, -0.3, 2, 0.1, -1, 0.6, 0.9}
	dot := func(pq, pk int, pairs RopePairs) float64 {
		rq, rk := make([]float64, HS), make([]float64, HS)
		RopeForward(rq, q, []int{pq}, 1, 1, 1, HS, 10000, pairs)
		RopeForward(rk, k, []int{pk}, 1, 1, 1, HS, 10000, pairs)
		var d float64
		for i := range rq {
			d += rq[i] * rk[i]
		}
		return d
	}
	for _, pairs := range []RopePairs{RopeInterleaved, RopeHalf} {
		if a, b := dot(7, 3, pairs), dot(104, 100, pairs); math.Abs(a-b) > 1e-12 {
			t.Errorf("pairs %d: q.k at (7, 3) = %v, at (104, 100) = %v", pairs, a, b)
		}
	}
}

func TestAttentionForwardOneTokenReturnsV(t *testing.T) {
	// NH = 4 query heads share NKV = 2 key/value heads: heads 0, 1 read
	// group 0 and heads 2, 3 group 1.
	const NH, NKV, HS = 4, 2, 3
	q := []float32{1, 2, 3, -1, 0, 5, 7, 7, 7, 0, 0, 1}
	k := []float32{4, 4, 4, -2, 1, 0}
	v := []float32{0.5, -1, 2, 3, 0.25, -4}
	out := make([]float32, NH*HS)
	att := make([]float32, NH)
	AttentionForward(out, att, q, k, v, 1, 1, NH, NKV, HS)
	near(t, "out", out, []float64{0.5, -1, 2, 0.5, -1, 2, 3, 0.25, -4, 3, 0.25, -4}, 0)
	near(t, "att", att, []float64{1, 1, 1, 1}, 0)
}

func TestAttentionForwardCausal(t *testing.T) {
	// T = 2, HS = 4 (scale 1/2). At t = 1 the query (2 ln 3, 0, 0, 0)
	// scores key 0 = 0 and key 1 = (1, 0, 0, 0) as 0 and ln 3: weights 1/4
	// and 3/4. At t = 0 only key 0 is seen.
	l3 := math.Log(3)
	q := []float64{5, 5, 5, 5, 2 * l3, 0, 0, 0}
	k := []float64{0, 0, 0, 0, 1, 0, 0, 0}
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	out := make([]float64, 8)
	att := []float64{9, 9, 9, 9}
	AttentionForward(out, att, q, k, v, 1, 2, 1, 1, 4)
	near(t, "out", out, []float64{1, 2, 3, 4, 4, 5, 6, 7}, 1e-14)
	near(t, "att", att, []float64{1, 0, 0.25, 0.75}, 1e-15)

	// The same with B = 2 (two sequences) and no att.
	out2 := make([]float64, 16)
	AttentionForward(out2, nil, append(q, q...), append(k, k...), append(v, v...), 2, 2, 1, 1, 4)
	near(t, "B=2", out2, []float64{1, 2, 3, 4, 4, 5, 6, 7, 1, 2, 3, 4, 4, 5, 6, 7}, 1e-14)
}

func TestGeluForward(t *testing.T) {
	x := []float32{0, 1, -1, 10, -10}
	GeluForward(x, x)
	// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) at 1: tanh(0.833554) = 0.682384.
	near(t, "gelu", x, []float64{0, 0.8411919906082768, -0.15880800939172324, 10, 0}, 1e-7)
}

func TestSwiGLUForward(t *testing.T) {
	// silu(ln 3) = ln 3 / (1 + 1/3) = 0.75 ln 3.
	gate := []float64{0, math.Log(3), -50}
	up := []float64{7, 2, 1}
	out := make([]float64, 3)
	SwiGLUForward(out, gate, up)
	near(t, "swiglu", out, []float64{0, 1.5 * math.Log(3), -50 * math.Exp(-50)}, 1e-15)
}

func TestEncoderForward(t *testing.T) {
	wte := []float32{1, 2, 3, 4, 5, 6} // V = 3, C = 2
	wpe := []float32{10, 20, 30, 40}   // 2 positions
	out := make([]float32, 8)
	EncoderForward(out, []int{2, 0, 1, 1}, wte, wpe, 2, 2, 2)
	near(t, "with positions", out, []float64{15, 26, 31, 42, 13, 24, 33, 44}, 0)
	EncoderForward(out, []int{2, 0, 1, 1}, wte, nil, 1, 4, 2)
	near(t, "tokens only", out, []float64{5, 6, 1, 2, 3, 4, 3, 4}, 0)
}

func TestLinearForward(t *testing.T) {
	// inp (2, 3), weight (2, 3): out (2, 2) = inp @ weight^T + bias.
	inp := []float32{1, 2, 3, 4, 5, 6}
	w := []float32{1, 0, 0, 1, 1, 1}
	out := make([]float32, 4)
	LinearForward(out, inp, w, []float32{0.5, -1}, 2, 3, 2)
	near(t, "bias", out, []float64{1.5, 5, 4.5, 14}, 0)
	LinearForward(out, inp, w, nil, 2, 3, 2)
	near(t, "no bias", out, []float64{1, 6, 4, 15}, 0)
}
