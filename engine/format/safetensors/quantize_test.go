package safetensors

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"webpeft/engine/tensor"
)

func TestReadQuantized(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// 40000 rows of 32 stage more than quantChunkBytes, so the chunked
	// path runs; the 3x64 weight fits one chunk.
	shapes := [][2]int64{{3, 64}, {40000, 32}}
	var in []WriteTensor
	for i, s := range shapes {
		x := make([]float32, s[0]*s[1])
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		for _, d := range []DType{F32, F16, BF16} {
			data, _ := EncodeF32(d, x)
			in = append(in, WriteTensor{string(d) + string(rune('0'+i)), d, s[:], data})
		}
	}
	f, err := openBytes(writeBytes(t, in, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range in {
		ti, _ := f.Tensor(w.Name)
		if !CanQuantize(ti) {
			t.Fatalf("%s: CanQuantize false", w.Name)
		}
		for _, qt := range []tensor.QuantType{tensor.Q8_0, tensor.Q4_0} {
			rowStart, rows := int64(1), ti.Rows()-1
			got, err := f.ReadQuantized(ti, qt, rowStart, rows)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := f.ReadF32(ti, rowStart, rows)
			want := make([]byte, int64(len(x))/tensor.BlockLen*int64(qt.BlockBytes()))
			if err := tensor.Quantize(qt, want, x); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s %v: blocks differ from tensor.Quantize", w.Name, qt)
			}
		}
	}
}

func TestCannotQuantize(t *testing.T) {
	in := []WriteTensor{
		{"norm", F32, []int64{64}, make([]byte, 256)},
		{"odd", F16, []int64{2, 33}, make([]byte, 132)},
		{"ints", I32, []int64{1, 32}, make([]byte, 128)},
		{"empty", F32, []int64{4, 0}, nil},
		{"cube", F32, []int64{1, 1, 32}, make([]byte, 128)},
	}
	f, err := openBytes(writeBytes(t, in, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range in {
		ti, _ := f.Tensor(w.Name)
		if CanQuantize(ti) {
			t.Errorf("%s: CanQuantize true", w.Name)
		}
		if _, err := f.ReadQuantized(ti, tensor.Q8_0, 0, 1); err == nil || !strings.Contains(err.Error(), `"`+w.Name+`"`) {
			t.Errorf("%s: %v", w.Name, err)
		}
	}
	ok := WriteTensor{"w", F32, []int64{1, 32}, make([]byte, 128)}
	f, _ = openBytes(writeBytes(t, []WriteTensor{ok}, nil))
	ti, _ := f.Tensor("w")
	if _, err := f.ReadQuantized(ti, tensor.QuantType(12), 0, 1); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Q4_K: %v", err)
	}
}
