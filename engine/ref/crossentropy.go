package ref

import "math"

// CrossEntropyForward computes the loss of each row of logits against its
// target class, numerically stable:
//
//	losses[r] = logsumexp(logits[r, :]) - logits[r, targets[r]]
//	          = log(sum over c of exp(logits[r, c] - m_r)) + m_r - logits[r, targets[r]]
//	m_r = max over c of logits[r, c]
//
// logits are (rows, cols) row-major, e.g. (B*T, V); targets has rows ids.
// A negative target (-1) masks its row: losses[r] = 0. Targets >= cols
// panic (an index error), as they would be a caller's bug. Sums and logs
// are taken in float64 whatever F is, so CrossEntropyForward[float64] on
// float32 inputs is the accurate reference for GPU f32 results.
// Twin: shaders/crossentropy_fwd.wgsl (engine/ops.CrossEntropy).
func CrossEntropyForward[F ~float32 | ~float64](losses, logits []F, targets []int, rows, cols int) {
	for r := range rows {
		t := targets[r]
		if t < 0 {
			losses[r] = 0
			continue
		}
		xr := logits[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range xr {
			m = max(m, float64(v))
		}
		var sum float64
		for _, v := range xr {
			sum += math.Exp(float64(v) - m)
		}
		losses[r] = F(math.Log(sum) + m - float64(xr[t]))
	}
}

// CrossEntropyBackward is CrossEntropyForward's backward pass fused with
// the softmax it contains, accumulating:
//
//	dlogits[r, c] += (softmax(logits[r, :])[c] - (c == targets[r] ? 1 : 0)) * dlosses[r]
//
// Shapes as in CrossEntropyForward; dlosses has rows values, the gradient
// of the final loss with respect to each row's loss (1/n for a mean over
// n unmasked rows). A row with a negative target was masked in the
// forward (its loss is the constant 0) and gets no gradient: its dlogits
// stay as they are. The softmax is recomputed in float64 whatever F is.
// No gradient may alias an input.
// Twin: shaders/vocab_bwd.wgsl (over vocabulary chunks).
func CrossEntropyBackward[F ~float32 | ~float64](dlogits, dlosses, logits []F, targets []int, rows, cols int) {
	for r := range rows {
		t := targets[r]
		if t < 0 {
			continue
		}
		xr := logits[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range xr {
			m = max(m, float64(v))
		}
		var sum float64
		for _, v := range xr {
			sum += math.Exp(float64(v) - m)
		}
		dl := float64(dlosses[r])
		dr := dlogits[r*cols : (r+1)*cols]
		for c, v := range xr {
			p := math.Exp(float64(v)-m) / sum
			if c == t {
				p--
			}
			dr[c] += F(p * dl)
		}
	}
}
