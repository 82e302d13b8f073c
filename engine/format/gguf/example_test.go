package gguf_test

import (
	"bytes"
	"fmt"

	"webpeft/engine/format/gguf"
	"webpeft/engine/tensor"
)

// Example writes a small file with Builder, opens it and streams a tensor
// two rows at a time.
func Example() {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	raw := make([]byte, 2*len(x))
	tensor.EncodeRows(tensor.F16, raw, x)

	b := gguf.NewBuilder()
	b.AddKV("general.architecture", "llama")
	b.AddKV("llama.context_length", uint32(2048))
	b.AddTensor("w", tensor.F16, []uint64{2, 4}, raw) // 4 rows of 2
	var file bytes.Buffer
	b.WriteTo(&file)

	f, err := gguf.Open(bytes.NewReader(file.Bytes()), int64(file.Len()))
	if err != nil {
		fmt.Println(err)
		return
	}
	arch, _ := f.String("general.architecture")
	ctx, _ := f.Int("llama.context_length")
	fmt.Println(arch, ctx)
	w, _ := f.Tensor("w")
	for r := 0; r < int(w.Rows()); r += 2 {
		vals, _ := f.ReadF32(w, r, 2)
		fmt.Println(w.Type, r, vals)
	}
	// Output:
	// llama 2048
	// F16 0 [1 2 3 4]
	// F16 2 [5 6 7 8]
}
