package ref

import "math"

// AdamWHyper are AdamW's hyperparameters for one step; Step is t, counted
// from 1.
type AdamWHyper struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
}

// AdamWStep applies one AdamW step (torch.optim.AdamW: weight decay
// decoupled from the gradient) to param in place, the gradient scaled by
// clip (1 when not clipping; ClipScale for global-norm clipping), for
// every i:
//
//	g        = clip * grad[i]
//	m[i]     = Beta1 * m[i] + (1 - Beta1) * g
//	v[i]     = Beta2 * v[i] + (1 - Beta2) * g^2
//	param[i] -= LR * (m_hat / (sqrt(v_hat) + Eps) + WeightDecay * param[i])
//
// with m_hat = m[i] / (1 - Beta1^Step) and v_hat = v[i] / (1 - Beta2^Step).
// param, m, v and grad have the same length; each update is taken in
// float64 and rounded to F once.
// Twin: shaders/adamw_step.wgsl (engine/ops.AdamW.Step).
func AdamWStep[F ~float32 | ~float64](param, m, v, grad []F, clip float64, h AdamWHyper) {
	t := float64(h.Step)
	bc1 := 1 - math.Pow(h.Beta1, t)
	bc2 := 1 - math.Pow(h.Beta2, t)
	for i, gv := range grad {
		g := clip * float64(gv)
		mi := h.Beta1*float64(m[i]) + (1-h.Beta1)*g
		vi := h.Beta2*float64(v[i]) + (1-h.Beta2)*g*g
		m[i], v[i] = F(mi), F(vi)
		p := float64(param[i])
		param[i] = F(p - h.LR*(mi/bc1/(math.Sqrt(vi/bc2)+h.Eps)+h.WeightDecay*p))
	}
}

// GradNorm returns the global L2 norm of grad, sqrt(sum over i of grad[i]^2),
// accumulated in float64 whatever F is.
// Twin: shaders/grad_norm_partial.wgsl + grad_norm_final.wgsl
// (engine/ops.AdamW.Clip, which also writes ClipScale of it).
func GradNorm[F ~float32 | ~float64](grad []F) float64 {
	var s float64
	for _, g := range grad {
		s += float64(g) * float64(g)
	}
	return math.Sqrt(s)
}

// ClipScale is the factor that global-norm clipping multiplies every
// gradient by (torch.nn.utils.clip_grad_norm_):
//
//	ClipScale = min(1, maxNorm / (norm + 1e-6)), or 1 when maxNorm <= 0
func ClipScale(norm, maxNorm float64) float64 {
	if maxNorm <= 0 {
		return 1
	}
	return min(1, maxNorm/(norm+1e-6))
}
