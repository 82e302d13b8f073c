// q5_1_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for Q5_1 weights (GGUF type 7).
// wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row as f32,
// exactly as ggml's dequantize_row_q5_1 (twin: engine/tensor.Decode).
// It reads the kernel's w and params.k.
// Layout: 24-byte blocks of 32 values (so 4-aligned): f16 d, f16 m, a
// little-endian u32 qh whose bit j is element j's fifth bit, then 16 bytes
// of nibbles as Q4_0. x = q*d + m; q*d is exact in f32 (5-bit q, 11-bit
// d), so a fused multiply-add rounds exactly as ggml's two operations do.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 32u, 24u) / 4u; // in words
    let j = k % 32u;
    let dm = w[o];
    let lo = raw_nibbles(w[o + 2u + (j % 16u) / 4u], j >= 16u);
    let q = lo | (raw_bits(w[o + 1u], j) << vec4<u32>(4u));
    return vec4<f32>(q) * f16_to_f32(dm) + f16_to_f32(dm >> 16u);
}
