package ref

import (
	"slices"
	"testing"
)

func TestAddMulScale(t *testing.T) {
	a := []float32{1, -2, 0.5, 3}
	b := []float32{4, 0.25, -0.5, -3}
	out := make([]float32, 4)

	Add(out, a, b)
	if want := []float32{5, -1.75, 0, 0}; !slices.Equal(out, want) {
		t.Errorf("Add = %v, want %v", out, want)
	}
	Mul(out, a, b)
	if want := []float32{4, -0.5, -0.25, -9}; !slices.Equal(out, want) {
		t.Errorf("Mul = %v, want %v", out, want)
	}
	Scale(out, a, -2)
	if want := []float32{-2, 4, -1, -6}; !slices.Equal(out, want) {
		t.Errorf("Scale = %v, want %v", out, want)
	}
}

// TestAddInPlace: out may alias an input, as the doc comments promise.
func TestAddInPlace(t *testing.T) {
	x := []float64{1, 2, 3}
	Add(x, x, []float64{10, 20, 30})
	Mul(x, x, x)
	Scale(x, x, 0.5)
	if want := []float64{60.5, 242, 544.5}; !slices.Equal(x, want) {
		t.Errorf("in place: %v, want %v", x, want)
	}
}

// TestAddUsesLenOut: only len(out) elements are computed; longer inputs are
// fine (a prefix of a bigger buffer).
func TestAddUsesLenOut(t *testing.T) {
	out := make([]float32, 2)
	Add(out, []float32{1, 2, 3}, []float32{1, 1, 1})
	if want := []float32{2, 3}; !slices.Equal(out, want) {
		t.Errorf("Add = %v, want %v", out, want)
	}
}
