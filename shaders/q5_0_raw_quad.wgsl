// q5_0_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for Q5_0 weights (GGUF type 6).
// wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row as f32,
// exactly as ggml's dequantize_row_q5_0 (twin: engine/tensor.Decode).
// It reads the kernel's w and params.k.
// Layout: 22-byte blocks of 32 values (at even offsets): f16 d, a
// little-endian u32 qh whose bit j is element j's fifth bit, then 16 bytes
// of nibbles as Q4_0 (byte j: element j low, j+16 high). x = (q-16)*d,
// exact in f32.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 32u, 22u);
    let j = k % 32u;
    let lo = raw_nibbles(raw_word(o + 6u + j % 16u), j >= 16u);
    let q = lo | (raw_bits(raw_word(o + 2u), j) << vec4<u32>(4u));
    return (vec4<f32>(q) - 16.0) * raw_f16(o);
}
