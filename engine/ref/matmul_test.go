package ref

import "testing"

func TestMatMulSmall(t *testing.T) {
	// x (2, 3), w (4, 3): y (2, 4) = x @ w^T.
	x := []float64{1, 2, 3, 4, 5, 6}
	w := []float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}
	want := []float64{1, 2, 3, 6, 4, 5, 6, 15}
	y := make([]float64, 8)
	MatMul(y, x, w, 2, 4, 3)
	for i := range want {
		if y[i] != want[i] {
			t.Fatalf("y = %v, want %v", y, want)
		}
	}
	y32 := make([]float32, 8)
	MatMul(y32, []float32{1, 2, 3, 4, 5, 6}, []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, 2, 4, 3)
	for i := range want {
		if float64(y32[i]) != want[i] {
			t.Fatalf("float32: y = %v, want %v", y32, want)
		}
	}
}

func TestMatMulEmptyK(t *testing.T) {
	y := []float32{7, 7}
	MatMul(y, nil, nil, 1, 2, 0)
	if y[0] != 0 || y[1] != 0 {
		t.Errorf("K = 0 gave %v, want zeros", y)
	}
}
