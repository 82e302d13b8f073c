// bf16_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for BF16 weights (GGUF type 30).
// wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row as f32,
// exactly as engine/tensor.Decode (BF16ToF32): a bf16 is the top half of
// an f32, so decoding is a shift, bit for bit.
// It reads the kernel's w and params.k.
// Layout: as F16, 2 bytes per value; the 4 values are two whole words.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let i = (row * params.k + k) / 2u;
    let a = w[i];
    let b = w[i + 1u];
    return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
}
