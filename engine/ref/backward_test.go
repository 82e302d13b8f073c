package ref

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Every backward is checked by checkBackward on small odd shapes: B = 2
// sequences of T = 5 tokens, C = 7 channels, unless a test says otherwise.
const testB, testT, testC = 2, 5, 7

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func TestMatMulBackward(t *testing.T) {
	const M, N, K = 5, 3, 7
	rng := newRand(1)
	x, w, dy := uniform(rng, M*K, -2, 2), uniform(rng, N*K, -2, 2), uniform(rng, M*N, -1, 1)
	y := make([]float64, M*N)
	checkBackward(t, gradCase{
		params: []param{{"x", x, true}, {"w", w, true}},
		loss:   func() float64 { MatMul(y, x, w, M, N, K); return dot(y, dy) },
		backward: func(g [][]float64) {
			MatMulBackward(g[0], g[1], dy, x, w, M, N, K)
		},
	})
}

func TestLinearBackward(t *testing.T) {
	const N, C, OC = testB * testT, testC, 5
	rng := newRand(2)
	inp, w, bias := uniform(rng, N*C, -2, 2), uniform(rng, OC*C, -1, 1), uniform(rng, OC, -1, 1)
	dout := uniform(rng, N*OC, -1, 1)
	out := make([]float64, N*OC)
	checkBackward(t, gradCase{
		params: []param{{"inp", inp, true}, {"weight", w, true}, {"bias", bias, true}},
		loss:   func() float64 { LinearForward(out, inp, w, bias, N, C, OC); return dot(out, dout) },
		backward: func(g [][]float64) {
			LinearBackward(g[0], g[1], g[2], dout, inp, w, N, C, OC)
		},
	})
}

func TestRMSNormBackward(t *testing.T) {
	const B, T, C = testB, testT, testC
	rng := newRand(3)
	inp, w, dout := uniform(rng, B*T*C, -2, 2), uniform(rng, C, 0.5, 1.5), uniform(rng, B*T*C, -1, 1)
	out, rstd := make([]float64, B*T*C), make([]float64, B*T)
	checkBackward(t, gradCase{
		params: []param{{"inp", inp, true}, {"weight", w, true}},
		loss: func() float64 {
			RMSNormForward(out, rstd, inp, w, B, T, C, 1e-5)
			return dot(out, dout)
		},
		backward: func(g [][]float64) {
			RMSNormBackward(g[0], g[1], dout, inp, w, rstd, B, T, C)
		},
	})
}

func TestLayerNormBackward(t *testing.T) {
	const B, T, C = testB, testT, testC
	rng := newRand(4)
	inp, w, bias := uniform(rng, B*T*C, -2, 2), uniform(rng, C, 0.5, 1.5), uniform(rng, C, -1, 1)
	dout := uniform(rng, B*T*C, -1, 1)
	out, mean, rstd := make([]float64, B*T*C), make([]float64, B*T), make([]float64, B*T)
	checkBackward(t, gradCase{
		params: []param{{"inp", inp, true}, {"weight", w, true}, {"bias", bias, true}},
		loss: func() float64 {
			LayerNormForward(out, mean, rstd, inp, w, bias, B, T, C, 1e-5)
			return dot(out, dout)
		},
		backward: func(g [][]float64) {
			LayerNormBackward(g[0], g[1], g[2], dout, inp, w, mean, rstd, B, T, C)
		},
	})
}

func TestRopeBackward(t *testing.T) {
	const B, T, NH, HS = testB, testT, 3, 6
	pos := []int{0, 1, 2, 3, 4, 7, 8, 9, 10, 11} // the second sequence continues a cache
	for _, pairs := range []RopePairs{RopeInterleaved, RopeHalf} {
		t.Run(fmt.Sprint("pairs", pairs), func(t *testing.T) {
			rng := newRand(5)
			inp, dout := uniform(rng, B*T*NH*HS, -2, 2), uniform(rng, B*T*NH*HS, -1, 1)
			out := make([]float64, len(inp))
			checkBackward(t, gradCase{
				params: []param{{"inp", inp, false}},
				loss: func() float64 {
					RopeForward(out, inp, pos, B, T, NH, HS, 100, pairs)
					return dot(out, dout)
				},
				backward: func(g [][]float64) {
					RopeBackward(g[0], dout, pos, B, T, NH, HS, 100, pairs)
				},
			})

			// In place, the gradient is rotated back over dout itself.
			want := make([]float64, len(dout))
			RopeBackward(want, dout, pos, B, T, NH, HS, 100, pairs)
			d := append([]float64(nil), dout...)
			RopeBackward(d, d, pos, B, T, NH, HS, 100, pairs)
			near(t, "in place", d, want, 0)
		})
	}
}

func TestAttentionBackward(t *testing.T) {
	const B, T, HS = 2, 9, 6
	for _, h := range []struct{ NH, NKV int }{{4, 2}, {3, 3}, {4, 1}, {1, 1}} {
		t.Run(fmt.Sprintf("NH%d_NKV%d", h.NH, h.NKV), func(t *testing.T) {
			NH, NKV := h.NH, h.NKV
			rng := newRand(6)
			q, k := uniform(rng, B*T*NH*HS, -1.5, 1.5), uniform(rng, B*T*NKV*HS, -1.5, 1.5)
			v, dout := uniform(rng, B*T*NKV*HS, -2, 2), uniform(rng, B*T*NH*HS, -1, 1)
			out, att := make([]float64, B*T*NH*HS), make([]float64, B*NH*T*T)
			checkBackward(t, gradCase{
				params: []param{{"q", q, true}, {"k", k, true}, {"v", v, true}},
				loss: func() float64 {
					AttentionForward(out, att, q, k, v, B, T, NH, NKV, HS)
					return dot(out, dout)
				},
				backward: func(g [][]float64) {
					AttentionBackward(g[0], g[1], g[2], dout, q, k, v, att, B, T, NH, NKV, HS)
				},
			})
		})
	}
}

func TestGeluBackward(t *testing.T) {
	rng := newRand(7)
	inp, dout := uniform(rng, testB*testT*testC, -4, 4), uniform(rng, testB*testT*testC, -1, 1)
	out := make([]float64, len(inp))
	checkBackward(t, gradCase{
		params:   []param{{"inp", inp, false}},
		loss:     func() float64 { GeluForward(out, inp); return dot(out, dout) },
		backward: func(g [][]float64) { GeluBackward(g[0], inp, dout) },
	})
}

func TestSwiGLUBackward(t *testing.T) {
	rng := newRand(8)
	n := testB * testT * testC
	gate, up, dout := uniform(rng, n, -4, 4), uniform(rng, n, -2, 2), uniform(rng, n, -1, 1)
	out := make([]float64, n)
	checkBackward(t, gradCase{
		params:   []param{{"gate", gate, true}, {"up", up, true}},
		loss:     func() float64 { SwiGLUForward(out, gate, up); return dot(out, dout) },
		backward: func(g [][]float64) { SwiGLUBackward(g[0], g[1], gate, up, dout) },
	})
}

func TestReLUBackward(t *testing.T) {
	rng := newRand(9)
	inp, dout := uniform(rng, testB*testT*testC, -2, 2), uniform(rng, testB*testT*testC, -1, 1)
	for i, v := range inp {
		if math.Abs(v) < 0.01 { // a probe across the kink would not be a derivative
			inp[i] = 0.5
		}
	}
	out := make([]float64, len(inp))
	checkBackward(t, gradCase{
		params:   []param{{"inp", inp, false}},
		loss:     func() float64 { ReLUForward(out, inp); return dot(out, dout) },
		backward: func(g [][]float64) { ReLUBackward(g[0], inp, dout) },
	})

	// At the kink the gradient is 0, and the forward is max(x, 0).
	x, d := []float64{-1, 0, 2}, []float64{0, 0, 0}
	ReLUBackward(d, x, []float64{5, 5, 5})
	near(t, "at the kink", d, []float64{0, 0, 5}, 0)
	ReLUForward(x, x)
	near(t, "relu", x, []float64{0, 0, 2}, 0)
}

func TestTanhBackward(t *testing.T) {
	rng := newRand(11)
	inp, dout := uniform(rng, testB*testT*testC, -3, 3), uniform(rng, testB*testT*testC, -1, 1)
	out := make([]float64, len(inp))
	checkBackward(t, gradCase{
		params:   []param{{"inp", inp, false}},
		loss:     func() float64 { TanhForward(out, inp); return dot(out, dout) },
		backward: func(g [][]float64) { TanhBackward(g[0], inp, dout) },
	})
}

func TestSplitBlocksBackward(t *testing.T) {
	const rows, G, W, stride = 3, 4, 5, 17
	rng := newRand(12)
	inp, dout := uniform(rng, rows*G*W, -1, 1), uniform(rng, G*stride, -1, 1)
	out := make([]float64, G*stride)
	checkBackward(t, gradCase{
		params:   []param{{"inp", inp, false}},
		loss:     func() float64 { SplitBlocksForward(out, inp, rows, G, W, stride); return dot(out, dout) },
		backward: func(g [][]float64) { SplitBlocksBackward(g[0], dout, rows, G, W, stride) },
	})
}

func TestSoftmaxBackward(t *testing.T) {
	const rows, cols = 4, testC
	rng := newRand(10)
	x, dout := uniform(rng, rows*cols, -3, 3), uniform(rng, rows*cols, -1, 1)
	out := make([]float64, rows*cols)
	checkBackward(t, gradCase{
		params:   []param{{"x", x, false}},
		loss:     func() float64 { Softmax(out, x, rows, cols); return dot(out, dout) },
		backward: func(g [][]float64) { SoftmaxBackward(g[0], dout, out, rows, cols) },
	})
}

func TestCrossEntropyBackward(t *testing.T) {
	const rows, V = 6, testC
	rng := newRand(11)
	logits, dlosses := uniform(rng, rows*V, -3, 3), uniform(rng, rows, 0.1, 1)
	targets := []int{3, 0, -1, 6, 2, 3} // row 2 is masked
	losses := make([]float64, rows)
	grads := make([]float64, rows*V)
	checkBackward(t, gradCase{
		params: []param{{"logits", logits, false}},
		loss: func() float64 {
			CrossEntropyForward(losses, logits, targets, rows, V)
			return dot(losses, dlosses)
		},
		backward: func(g [][]float64) {
			CrossEntropyBackward(g[0], dlosses, logits, targets, rows, V)
			copy(grads, g[0])
		},
	})

	// The masked row is left exactly as it was; each other row sums to 0
	// (the softmax sums to 1, the one-hot target too).
	for i := range V {
		grads[2*V+i] = 7
	}
	CrossEntropyBackward(grads, dlosses, logits, targets, rows, V)
	near(t, "masked row", grads[2*V:3*V], []float64{7, 7, 7, 7, 7, 7, 7}, 0)
	clear(grads)
	CrossEntropyBackward(grads, dlosses, logits, targets, rows, V)
	for r := range rows {
		if s := Sum(grads[r*V : (r+1)*V]); math.Abs(s) > 1e-15 {
			t.Errorf("row %d: gradient sums to %g, want 0", r, s)
		}
	}
}

func TestEncoderBackward(t *testing.T) {
	const B, T, C, V, maxT = testB, testT, testC, 4, 6
	tokens := []int{2, 0, 2, 3, 2, 1, 1, 0, 3, 2} // repeats gather
	rng := newRand(12)
	wte, wpe, dout := uniform(rng, V*C, -1, 1), uniform(rng, maxT*C, -1, 1), uniform(rng, B*T*C, -1, 1)
	out := make([]float64, B*T*C)
	checkBackward(t, gradCase{
		params: []param{{"wte", wte, true}, {"wpe", wpe, true}},
		loss: func() float64 {
			EncoderForward(out, tokens, wte, wpe, B, T, C)
			return dot(out, dout)
		},
		backward: func(g [][]float64) { EncoderBackward(g[0], g[1], dout, tokens, B, T, C) },
	})
}

func TestMulBackward(t *testing.T) {
	rng := newRand(13)
	n := testB * testT * testC
	a, b, dout := uniform(rng, n, -2, 2), uniform(rng, n, -2, 2), uniform(rng, n, -1, 1)
	out := make([]float64, n)
	checkBackward(t, gradCase{
		params:   []param{{"a", a, true}, {"b", b, true}},
		loss:     func() float64 { Mul(out, a, b); return dot(out, dout) },
		backward: func(g [][]float64) { MulBackward(g[0], g[1], a, b, dout) },
	})
}

func TestScaleColsBackward(t *testing.T) {
	const rows, cols = testB * testT, testC
	rng := newRand(14)
	inp, s, dout := uniform(rng, rows*cols, -2, 2), uniform(rng, cols, 0.5, 1.5), uniform(rng, rows*cols, -1, 1)
	out := make([]float64, rows*cols)
	checkBackward(t, gradCase{
		params:   []param{{"inp", inp, true}, {"s", s, true}},
		loss:     func() float64 { ScaleColsForward(out, inp, s, rows, cols); return dot(out, dout) },
		backward: func(g [][]float64) { ScaleColsBackward(g[0], g[1], dout, inp, s, rows, cols) },
	})

	// In place, by hand: columns scaled by 2 and -1.
	x := []float32{1, 2, 3, 4}
	ScaleColsForward(x, x, []float32{2, -1}, 2, 2)
	near(t, "scale cols", x, []float64{2, -2, 6, -4}, 0)
}

// TestBackwardFloat32: the float32 instantiations agree with float64 on
// the same inputs to float32 precision (sums and rounding differ, nothing
// else).
func TestBackwardFloat32(t *testing.T) {
	const B, T, NH, NKV, HS = 2, 5, 4, 2, 6
	rng := newRand(15)
	q, k, v := uniform(rng, B*T*NH*HS, -1, 1), uniform(rng, B*T*NKV*HS, -1, 1), uniform(rng, B*T*NKV*HS, -1, 1)
	dout := uniform(rng, B*T*NH*HS, -1, 1)
	q32, k32, v32, dout32 := to32(q), to32(k), to32(v), to32(dout)
	q, k, v, dout = to64(q32), to64(k32), to64(v32), to64(dout32)

	out, att := make([]float64, len(q)), make([]float64, B*NH*T*T)
	AttentionForward(out, att, q, k, v, B, T, NH, NKV, HS)
	dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	AttentionBackward(dq, dk, dv, dout, q, k, v, att, B, T, NH, NKV, HS)

	out32, att32 := make([]float32, len(q)), make([]float32, B*NH*T*T)
	AttentionForward(out32, att32, q32, k32, v32, B, T, NH, NKV, HS)
	dq32, dk32, dv32 := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
	AttentionBackward(dq32, dk32, dv32, dout32, q32, k32, v32, att32, B, T, NH, NKV, HS)
	near(t, "dq", dq32, dq, 1e-6)
	near(t, "dk", dk32, dk, 1e-6)
	near(t, "dv", dv32, dv, 1e-6)
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}
