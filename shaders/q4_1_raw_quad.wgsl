// q4_1_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for Q4_1 weights (GGUF type 3).
// wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row as f32,
// exactly as ggml's dequantize_row_q4_1 (twin: engine/tensor.Decode).
// It reads the kernel's w and params.k.
// Layout: 20-byte blocks of 32 values (so 4-aligned): f16 d, f16 m, then 16
// bytes; byte j holds element j in its low nibble and j+16 in its high
// one. x = q*d + m; q*d is exact in f32 (4-bit q, 11-bit d), so a fused
// multiply-add rounds exactly as ggml's two operations do.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 32u, 20u);
    let j = k % 32u;
    let dm = w[o / 4u];
    let q = raw_nibbles(w[(o + 4u + j % 16u) / 4u], j >= 16u);
    return vec4<f32>(q) * f16_to_f32(dm) + f16_to_f32(dm >> 16u);
}
