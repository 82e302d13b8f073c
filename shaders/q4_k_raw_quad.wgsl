// q4_k_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl, raw_bytes.wgsl and k4_scale_min.wgsl,
// to the raw-weight kernels (matmul_raw_rb_fwd, embed_raw_fwd) for Q4_K
// weights (GGUF type 12). wquad(row, k) = elements k..k+3 (k % 4 == 0) of
// weight row row as f32, exactly as ggml's dequantize_row_q4_K (twin:
// engine/tensor.Decode). It reads the kernel's w and params.k.
// Layout: 144-byte super-blocks of 256 values (so 4-aligned): f16 d, f16
// dmin, 12 bytes of packed 6-bit scales and mins (k4_scale_min), then 128
// bytes of nibbles. Sub-block s (32 values) is the low (s even) or high
// nibbles of bytes 32*(s/2)..32*(s/2)+31. x = (d*sc)*q - dmin*m; both
// products are exact in f32 (11 + 6 + 4 bits), so the one rounding is
// ggml's whether or not the compiler fuses them.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 256u, 144u) / 4u; // in words
    let e = k % 256u;
    let s = e / 32u;
    let dm = w[o];
    let sm = k4_scale_min(vec3<u32>(w[o + 1u], w[o + 2u], w[o + 3u]), s);
    let q = raw_nibbles(w[o + 4u + 8u * (s / 2u) + (e % 32u) / 4u], s % 2u == 1u);
    let d = f16_to_f32(dm) * f32(sm.x);
    let m = f16_to_f32(dm >> 16u) * f32(sm.y);
    return d * vec4<f32>(q) - m;
}
