package model

import "webpeft/engine/peft"

// PEFTInfo returns what an adapter trained on the model of s records
// about it (peft.ModelInfo): architecture, shapes, name, and whether its
// Q/K rows are in llama.cpp's permuted order (a llama GGUF file, whose
// rows PermuteQK reordered for interleaved RoPE).
func PEFTInfo(s *Spec) peft.ModelInfo {
	return peft.ModelInfo{Arch: string(s.Arch), Name: s.Name, Hidden: s.Hidden, Layers: s.Layers,
		Heads: s.Heads, KVHeads: s.KVHeads, HeadDim: s.HeadDim,
		PermutedQK: s.Arch == Llama && s.Rope == RopeInterleaved}
}
