package model

import (
	"bytes"
	"testing"
)

func TestPermuteQK(t *testing.T) {
	// 2 heads of head dim 4, one byte per row: HF rows 0..7.
	rows := []byte{0, 1, 2, 3, 4, 5, 6, 7}
	got := make([]byte, 8)
	if err := PermuteQK(got, rows, 2, 1); err != nil {
		t.Fatal(err)
	}
	// Within a head, (i, j) -> (j, i): [0 1 | 2 3] -> [0 2 1 3].
	want := []byte{0, 2, 1, 3, 4, 6, 5, 7}
	if !bytes.Equal(got, want) {
		t.Fatalf("PermuteQK = %v, want %v", got, want)
	}
	back := make([]byte, 8)
	if err := UnpermuteQK(back, got, 2, 1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, rows) {
		t.Fatalf("UnpermuteQK(PermuteQK(x)) = %v, want %v", back, rows)
	}
	if err := PermuteQK(got[:7], rows[:7], 2, 1); err == nil {
		t.Error("a row count that is not heads*HS was accepted")
	}
}
