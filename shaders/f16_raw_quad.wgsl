// f16_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for F16 weights (GGUF type 1).
// wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row as f32,
// exactly as engine/tensor.Decode (F16ToF32; exact for every f16).
// It reads the kernel's w and params.k.
// Layout: 2 bytes per value, so the 4 values start at byte 2*(row*K + k),
// a multiple of 8 (K % 4 == 0): two whole words, no straddling.

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let i = (row * params.k + k) / 2u;
    let a = w[i];
    let b = w[i + 1u];
    return vec4<f32>(f16_to_f32(a), f16_to_f32(a >> 16u), f16_to_f32(b), f16_to_f32(b >> 16u));
}
