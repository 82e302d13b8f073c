package ref

import (
	"math"
	"testing"
)

// TestCrossEntropyForward: uniform logits give log(V) whatever their
// offset (1000 would overflow exp without the max subtraction), a masked
// row gives 0, and a row agrees with -log(softmax) at the target.
func TestCrossEntropyForward(t *testing.T) {
	logits := []float64{
		1000, 1000, 1000, 1000,
		1, 2, 3, 4,
		5, 6, 7, 8,
	}
	losses := make([]float64, 3)
	CrossEntropyForward(losses, logits, []int{2, 1, -1}, 3, 4)
	if d := math.Abs(losses[0] - math.Log(4)); d > 1e-12 {
		t.Errorf("uniform row: loss %g, want log 4 = %g", losses[0], math.Log(4))
	}
	p := make([]float64, 4)
	Softmax(p, logits[4:8], 1, 4)
	if d := math.Abs(losses[1] + math.Log(p[1])); d > 1e-12 {
		t.Errorf("row 1: loss %g, want -log p = %g", losses[1], -math.Log(p[1]))
	}
	if losses[2] != 0 {
		t.Errorf("masked row: loss %g, want 0", losses[2])
	}
}
