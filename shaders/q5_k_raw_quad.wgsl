// q5_k_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl, raw_bytes.wgsl and k4_scale_min.wgsl,
// to the raw-weight kernels (matmul_raw_rb_fwd, embed_raw_fwd) for Q5_K
// weights (GGUF type 13). wquad(row, k) = elements k..k+3 (k % 4 == 0) of
// weight row row as f32, exactly as ggml's dequantize_row_q5_K (twin:
// engine/tensor.Decode). It reads the kernel's w and params.k.
// Layout: 176-byte super-blocks of 256 values (so 4-aligned): f16 d, f16
// dmin, 12 bytes of scales and mins (k4_scale_min), 32 bytes qh, then 128
// bytes of nibbles as Q4_K. Element l (0..31) of sub-block s takes its
// fifth bit from bit s of qh[l]. x = (d*sc)*q - dmin*m; both products are
// exact in f32 (11 + 6 + 5 bits), so fusing them cannot change the result.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 256u, 176u) / 4u; // in words
    let e = k % 256u;
    let s = e / 32u;
    let l = e % 32u;
    let dm = w[o];
    let sm = k4_scale_min(vec3<u32>(w[o + 1u], w[o + 2u], w[o + 3u]), s);
    let lo = raw_nibbles(w[o + 12u + 8u * (s / 2u) + l / 4u], s % 2u == 1u);
    let hi = (raw_bytes4(w[o + 4u + l / 4u]) >> vec4<u32>(s)) & vec4<u32>(1u);
    let d = f16_to_f32(dm) * f32(sm.x);
    let m = f16_to_f32(dm >> 16u) * f32(sm.y);
    return d * vec4<f32>(lo | (hi << vec4<u32>(4u))) - m;
}
