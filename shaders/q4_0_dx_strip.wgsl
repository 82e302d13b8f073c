// q4_0_dx_strip: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q4_0_decode.wgsl, to
// matmul_quant_rb_bwd.wgsl: how that kernel reads Q4_0 weights along a
// row. It reads the kernel's quants, scales and params.

// nibble_quad returns elements 16h+4j..16h+4j+3 of a block (h = 0, 1;
// j = 0..3) from its quant word j, minus 8: q4_0_lo(word) for h = 0,
// q4_0_hi(word) for h = 1, with one shift (lanes of a workgroup differ in
// h, so selecting between the two would compute both).
fn nibble_quad(word: u32, h: u32) -> vec4<f32> {
    let q = (vec4<u32>(word) >> (vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(4u * h))) & vec4<u32>(15u);
    return vec4<f32>(q) - 8.0;
}

// wstrip returns w rows n..n+3 (clamped to the last) at k..k+15 (k % 16
// == 0: half of a block, whose quants are the low or high nibbles of its
// one vec4<u32>) as step's right operand: b<j>[i][r] = w[n+i][k+4j+r].
fn wstrip(n: u32, k: u32) -> Strip {
    let blocks = params.k / 32u;
    let last = params.n - 1u;
    let b = k / 32u;
    let h = (k / 16u) % 2u;
    let i0 = min(n, last) * blocks + b;
    let i1 = min(n + 1u, last) * blocks + b;
    let i2 = min(n + 2u, last) * blocks + b;
    let i3 = min(n + 3u, last) * blocks + b;
    let q0 = quants[i0];
    let q1 = quants[i1];
    let q2 = quants[i2];
    let q3 = quants[i3];
    let d = vec4<f32>(q4_0_scale(scales[i0 / 2u], i0), q4_0_scale(scales[i1 / 2u], i1),
                      q4_0_scale(scales[i2 / 2u], i2), q4_0_scale(scales[i3 / 2u], i3));
    return Strip(
        mat4x4<f32>(nibble_quad(q0.x, h) * d.x, nibble_quad(q1.x, h) * d.y, nibble_quad(q2.x, h) * d.z, nibble_quad(q3.x, h) * d.w),
        mat4x4<f32>(nibble_quad(q0.y, h) * d.x, nibble_quad(q1.y, h) * d.y, nibble_quad(q2.y, h) * d.z, nibble_quad(q3.y, h) * d.w),
        mat4x4<f32>(nibble_quad(q0.z, h) * d.x, nibble_quad(q1.z, h) * d.y, nibble_quad(q2.z, h) * d.z, nibble_quad(q3.z, h) * d.w),
        mat4x4<f32>(nibble_quad(q0.w, h) * d.x, nibble_quad(q1.w, h) * d.y, nibble_quad(q2.w, h) * d.z, nibble_quad(q3.w, h) * d.w));
}
