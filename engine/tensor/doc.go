// Package tensor holds webpeft's host-side number formats, pure Go with no
// GPU import: the GGML tensor types (Type: ids, names, block geometry),
// exact f16/bf16 <-> f32 conversion, and the block codecs of every type a
// GGUF model may hold (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// IQ4_NL, Q4_K, Q5_K, Q6_K). DecodeRows is bit-exact with llama.cpp's
// dequantize_row_*; EncodeRows, for F32, F16, BF16, Q4_0, Q4_1, Q5_0,
// Q5_1 and Q8_0, with its quantize_row_*_ref, while Q4_K, Q5_K, Q6_K and
// IQ4_NL are encoded by a simpler scheme of webpeft's own. Pack repacks
// Q8_0 and Q4_0 blocks into the 4-byte-aligned layout the GPU kernels read.
package tensor
