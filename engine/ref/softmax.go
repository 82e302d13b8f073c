package ref

import "math"

// Softmax computes a numerically stable softmax of each row of x:
//
//	out[r, c] = exp(x[r, c] - m_r) / sum over c' of exp(x[r, c'] - m_r)
//	m_r = max over c of x[r, c]
//
// x and out are (rows, cols) row-major, e.g. logits (B*T, V) or attention
// scores (B*NH*T, T); out may alias x. Subtracting the row maximum keeps
// every exp in (0, 1], so logits of 1000 neither overflow nor give NaN.
// Differences, exps and the row sum are taken in float64 whatever F is, so
// Softmax[float64] on float32 inputs is the accurate reference for GPU f32
// results.
// Twin: shaders/softmax_fwd.wgsl (engine/ops.Softmax).
func Softmax[F ~float32 | ~float64](out, x []F, rows, cols int) {
	for r := range rows {
		xr := x[r*cols : (r+1)*cols]
		or := out[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range xr {
			m = max(m, float64(v))
		}
		var sum float64
		for _, v := range xr {
			sum += math.Exp(float64(v) - m)
		}
		for c, v := range xr {
			or[c] = F(math.Exp(float64(v)-m) / sum)
		}
	}
}

// SoftmaxBackward is Softmax's backward pass, accumulating. With p = out,
// the forward's output, for each row r:
//
//	dinp[r, c] += p[r, c] * (dout[r, c] - sum over c' of p[r, c'] * dout[r, c'])
//
// The subtracted sum is the path through the row's normalizer. Shapes as
// in Softmax. Taken in float64 whatever F is. No gradient may alias an
// input.
// Twin: none yet (no kernel needs softmax_bwd).
func SoftmaxBackward[F ~float32 | ~float64](dinp, dout, out []F, rows, cols int) {
	for r := range rows {
		p := out[r*cols : (r+1)*cols]
		d := dout[r*cols : (r+1)*cols]
		var pd float64
		for c, v := range p {
			pd += float64(v) * float64(d[c])
		}
		for c, v := range p {
			dinp[r*cols+c] += F(float64(v) * (float64(d[c]) - pd))
		}
	}
}
