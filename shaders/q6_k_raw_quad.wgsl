// q6_k_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for Q6_K weights (GGUF type
// 14). wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row as
// f32, exactly as ggml's dequantize_row_q6_K (twin: engine/tensor.Decode).
// It reads the kernel's w and params.k.
// Layout: 210-byte super-blocks of 256 values (at even offsets): 128 bytes
// ql (low nibbles), 64 bytes qh (2-bit highs), 16 int8 scales, f16 d.
// Element 128h + 32c + l (h < 2, c < 4, l < 32) has its low nibble in
// ql[64h + l + 32*(c%2)] (high nibble of the byte when c >= 2), its top 2
// bits at bit 2c of qh[32h + l], and scale sc[8h + l/16 + 2c].
// x = (d*sc)*(q-32), exact in f32 (at most 11 + 7 + 5 significant bits).

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 256u, 210u);
    let e = k % 256u;
    let h = e / 128u;
    let c = (e % 128u) / 32u;
    let l = e % 32u;
    let lo = raw_nibbles(raw_word(o + 64u * h + 32u * (c % 2u) + l), c >= 2u);
    let hi = (raw_bytes4(raw_word(o + 128u + 32u * h + l)) >> vec4<u32>(2u * c)) & vec4<u32>(3u);
    let sc = bitcast<i32>(raw_byte(o + 192u + 8u * h + l / 16u + 2u * c) << 24u) >> 24u;
    let d = raw_f16(o + 208u) * f32(sc);
    return d * (vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0);
}
