// Package tensor holds webpeft's host-side number formats, pure Go with no
// GPU import: exact f16 <-> f32 conversion, the GGUF block codecs Q8_0 and
// Q4_0 (bit-exact with llama.cpp's ggml-quants.c: Decode as
// dequantize_row_*, Quantize as quantize_row_*_ref), and Pack, which
// repacks GGUF blocks into the 4-byte-aligned layout the GPU kernels read.
package tensor
