package ref

import "testing"

func TestSum(t *testing.T) {
	if s := Sum([]float32{1, 2, 3.5}); s != 6.5 {
		t.Errorf("Sum = %v, want 6.5", s)
	}
	if s := Sum[float64](nil); s != 0 {
		t.Errorf("Sum of nothing = %v, want 0", s)
	}
}

// TestSumAccumulatesInFloat64: float32 accumulation would lose the 1
// (1e8 + 1 rounds to 1e8 in float32); the reference must not.
func TestSumAccumulatesInFloat64(t *testing.T) {
	if s := Sum([]float32{1e8, 1, -1e8}); s != 1 {
		t.Errorf("Sum = %v, want 1", s)
	}
}
