// Package engine is webpeft's core, pure Go, built natively (cgo) and for
// js/wasm. Its packages, bottom up:
//
//	tensor  f16 and GGUF block codecs (Q8_0, Q4_0), GPU repacking
//	ref     the CPU reference of every op, forward (and later backward)
//	gpu     the only importer of the WebGPU binding
//	ops     one launcher per kernel in shaders/, with parity cases
//
// Shapes are written in PyTorch order, row-major, with these letters:
//
//	B batch, T sequence length, C channels (hidden size), V vocabulary,
//	L layers, NH heads, HS head size, R LoRA rank;
//	M, N, K for a matmul Y (M,N) = X (M,K) @ W^T, W (N,K).
//
// Gradients are named d<x>; backward functions accumulate into them.
package engine
