package ref

import (
	"math"
	"testing"
)

// TestAdamWStep checks two steps against torch's own formulation of
// AdamW (single-tensor path: param *= 1 - lr*wd; denom = sqrt(v)/sqrt(bc2)
// + eps; param -= lr/bc1 * m/denom), written out here independently.
func TestAdamWStep(t *testing.T) {
	p := []float64{0.5, -1.25, 2, 0}
	m := make([]float64, len(p))
	v := make([]float64, len(p))
	tp := append([]float64(nil), p...)
	tm := make([]float64, len(p))
	tv := make([]float64, len(p))
	grads := [][]float64{{0.1, -0.2, 3, -1e-3}, {-0.3, 0.2, 1, 4}}
	for step, g := range grads {
		h := AdamWHyper{LR: 0.01 * float64(step+1), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Step: step + 1}
		const clip = 0.5
		AdamWStep(p, m, v, g, clip, h)
		bc1 := 1 - math.Pow(h.Beta1, float64(h.Step))
		bc2 := 1 - math.Pow(h.Beta2, float64(h.Step))
		for i := range tp {
			gi := clip * g[i]
			tp[i] *= 1 - h.LR*h.WeightDecay
			tm[i] = tm[i] + (gi-tm[i])*(1-h.Beta1) // torch's lerp
			tv[i] = tv[i]*h.Beta2 + (1-h.Beta2)*gi*gi
			denom := math.Sqrt(tv[i])/math.Sqrt(bc2) + h.Eps
			tp[i] -= h.LR / bc1 * tm[i] / denom
		}
		for i := range p {
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"param", p[i], tp[i]}, {"m", m[i], tm[i]}, {"v", v[i], tv[i]}} {
				if math.Abs(c.got-c.want) > 1e-14*(1+math.Abs(c.want)) {
					t.Errorf("step %d: %s[%d] = %.17g, want %.17g", step+1, c.name, i, c.got, c.want)
				}
			}
		}
	}
	// Step 1 without decay moves each parameter by lr*g/(|g|+eps): about lr.
	q, qm, qv := []float32{1}, []float32{0}, []float32{0}
	AdamWStep(q, qm, qv, []float32{-3}, 1, AdamWHyper{LR: 0.5, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, Step: 1})
	if math.Abs(float64(q[0])-1.5) > 1e-6 {
		t.Errorf("first step: param %g, want 1.5", q[0])
	}
}

func TestGradNormClipScale(t *testing.T) {
	if n := GradNorm([]float32{3, -4}); n != 5 {
		t.Errorf("GradNorm(3,-4) = %g, want 5", n)
	}
	for _, c := range []struct{ norm, max, want float64 }{
		{5, 0, 1}, {5, -1, 1}, {5, 10, 1}, {5, 1, 1 / (5 + 1e-6)}, {0, 1, 1},
	} {
		if got := ClipScale(c.norm, c.max); got != c.want {
			t.Errorf("ClipScale(%g, %g) = %g, want %g", c.norm, c.max, got, c.want)
		}
	}
}
