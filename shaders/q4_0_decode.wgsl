// q4_0_decode: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl, to the Q4_0 kernels.
// Layout (engine/tensor.Packed): block b of a row-major (N, K) weight has its
// 16 quant bytes in quants[b] (a vec4<u32>), as in GGUF: byte j holds
// element j in its low nibble and element j+16 in its high nibble, so word i
// holds elements 4i..4i+3 (low nibbles) and 4i+16..4i+19 (high nibbles).
// Its f16 scale d is in the low (b even) or high (b odd) half of
// scales[b/2]. Element j decodes to (q_j - 8) * d, exactly as ggml's
// dequantize_row_q4_0 (twin: engine/tensor.Decode); exact in f32.

// q4_0_scale returns d of block b from the packed scale word scales[b/2].
fn q4_0_scale(word: u32, b: u32) -> f32 {
    return f16_to_f32(word >> (16u * (b % 2u)));
}

// q4_0_lo returns elements 4i..4i+3 of a block from its word i, as q - 8.
fn q4_0_lo(word: u32) -> vec4<f32> {
    let q = (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u);
    return vec4<f32>(q) - 8.0;
}

// q4_0_hi returns elements 4i+16..4i+19 of a block from its word i, as q - 8.
fn q4_0_hi(word: u32) -> vec4<f32> {
    let q = (vec4<u32>(word) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(15u);
    return vec4<f32>(q) - 8.0;
}
