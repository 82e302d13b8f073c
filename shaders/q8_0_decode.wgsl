// q8_0_decode: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl, to the Q8_0 kernels.
// Layout (engine/tensor.Packed): block b of a row-major (N, K) weight has its
// 32 int8 quants in quants[2b] (elements 0..15) and quants[2b+1] (16..31),
// little-endian, 4 per u32; its f16 scale d in the low (b even) or high
// (b odd) half of scales[b/2]. Element j decodes to q_j * d, exactly as
// ggml's dequantize_row_q8_0 (twin: engine/tensor.Decode); the product of
// an int8 and an f16 value is exact in f32.

// q8_0_scale returns d of block b from the packed scale word scales[b/2].
fn q8_0_scale(word: u32, b: u32) -> f32 {
    return f16_to_f32(word >> (16u * (b % 2u)));
}

// q8_0_quad returns the 4 int8 quants packed in word (byte i is element i), as f32.
fn q8_0_quad(word: u32) -> vec4<f32> {
    // shift each byte to the top, then shift back arithmetically to sign-extend
    let v = bitcast<vec4<i32>>(vec4<u32>(word) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
    return vec4<f32>(v);
}
