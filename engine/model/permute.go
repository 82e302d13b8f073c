package model

import "fmt"

// PermuteQK reorders the rows of a Q or K projection from Hugging Face's
// layout (half-rotation RoPE) to the one llama.cpp's converter writes for
// llama GGUF files (interleaved RoPE): within each head the rows (i, j),
// i in {0,1}, j < HS/2, become (j, i). Interleaved RoPE on permuted rows
// computes exactly what half rotation does on the original ones. heads is
// NH for Q and KVHeads for K. rows holds heads*HS rows of rowBytes bytes
// each (any element type: quantized rows move whole).
func PermuteQK(out, rows []byte, heads, rowBytes int) error {
	return permuteRows(out, rows, heads, rowBytes, false)
}

// UnpermuteQK undoes PermuteQK.
func UnpermuteQK(out, rows []byte, heads, rowBytes int) error {
	return permuteRows(out, rows, heads, rowBytes, true)
}

func permuteRows(out, rows []byte, heads, rowBytes int, inverse bool) error {
	if heads <= 0 || rowBytes <= 0 || len(rows)%(heads*rowBytes) != 0 || len(out) != len(rows) {
		return fmt.Errorf("model: permute %d bytes as %d heads of %d-byte rows: sizes do not fit", len(rows), heads, rowBytes)
	}
	hs := len(rows) / rowBytes / heads
	if hs%2 != 0 {
		return fmt.Errorf("model: permute needs an even head dim, got %d", hs)
	}
	half := hs / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < 2; i++ {
			for j := 0; j < half; j++ {
				hf := h*hs + i*half + j // Hugging Face row
				gg := h*hs + 2*j + i    // llama.cpp GGUF row
				src, dst := hf, gg
				if inverse {
					src, dst = gg, hf
				}
				copy(out[dst*rowBytes:(dst+1)*rowBytes], rows[src*rowBytes:(src+1)*rowBytes])
			}
		}
	}
	return nil
}
