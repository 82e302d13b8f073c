package ref

import (
	"math"
	"testing"
)

func TestSoftmaxHandChecked(t *testing.T) {
	// Rows (0, 0), (0, ln 3) and (7): 1/2 1/2, 1/4 3/4, 1.
	x := []float64{0, 0, 0, math.Log(3), 7}
	out := make([]float64, 5)
	Softmax(out[:4], x[:4], 2, 2)
	Softmax(out[4:], x[4:], 1, 1)
	want := []float64{0.5, 0.5, 0.25, 0.75, 1}
	for i := range want {
		if math.Abs(out[i]-want[i]) > 1e-15 {
			t.Errorf("out[%d] = %v, want %v", i, out[i], want[i])
		}
	}
}

func TestSoftmaxRowsSumToOne(t *testing.T) {
	const rows, cols = 3, 37
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(math.Sin(float64(i))) * 2
	}
	out := make([]float32, rows*cols)
	Softmax(out, x, rows, cols)
	for r := range rows {
		var s float64
		for _, v := range out[r*cols : (r+1)*cols] {
			if v <= 0 || v >= 1 {
				t.Fatalf("row %d: value %v outside (0, 1)", r, v)
			}
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-6 {
			t.Errorf("row %d sums to %v, want 1", r, s)
		}
	}
}

// TestSoftmaxLargeInputs: exp(1000) overflows even float64; the row max is
// subtracted first, and a shift of every logit changes nothing.
func TestSoftmaxLargeInputs(t *testing.T) {
	x := []float32{1000, 1000, 999, -1000}
	out := make([]float32, 4)
	Softmax(out, x, 1, 4)

	small := []float32{1, 1, 0, -2000}
	want := make([]float32, 4)
	Softmax(want, small, 1, 4)
	for i := range out {
		if math.IsNaN(float64(out[i])) || math.IsInf(float64(out[i]), 0) {
			t.Fatalf("out = %v: not finite", out)
		}
		if math.Abs(float64(out[i]-want[i])) > 1e-7 {
			t.Errorf("out[%d] = %v, want %v (shift invariance)", i, out[i], want[i])
		}
	}
	if out[3] != 0 {
		t.Errorf("exp(-2000) share = %v, want 0", out[3])
	}
	e := math.Exp(-1)
	if w := 1 / (2 + e); math.Abs(float64(out[0])-w) > 1e-7 {
		t.Errorf("out[0] = %v, want 1/(2+e) = %v", out[0], w)
	}
}

func TestSoftmaxInPlace(t *testing.T) {
	x := []float64{0, math.Log(3)}
	Softmax(x, x, 1, 2)
	if math.Abs(x[0]-0.25) > 1e-15 || math.Abs(x[1]-0.75) > 1e-15 {
		t.Errorf("in place: %v, want [0.25 0.75]", x)
	}
}
