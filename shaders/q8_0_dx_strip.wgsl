// q8_0_dx_strip: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q8_0_decode.wgsl, to
// matmul_quant_rb_bwd.wgsl: how that kernel reads Q8_0 weights along a
// row. It reads the kernel's quants, scales and params.

// wstrip returns w rows n..n+3 (clamped to the last) at k..k+15 (k % 16
// == 0: half of a block, one vec4<u32> of quants per row) as step's right
// operand: b<j>[i][r] = w[n+i][k+4j+r].
fn wstrip(n: u32, k: u32) -> Strip {
    let blocks = params.k / 32u;
    let last = params.n - 1u;
    let b = k / 32u;
    let h = (k / 16u) % 2u;
    let i0 = min(n, last) * blocks + b;
    let i1 = min(n + 1u, last) * blocks + b;
    let i2 = min(n + 2u, last) * blocks + b;
    let i3 = min(n + 3u, last) * blocks + b;
    let q0 = quants[2u * i0 + h];
    let q1 = quants[2u * i1 + h];
    let q2 = quants[2u * i2 + h];
    let q3 = quants[2u * i3 + h];
    let d = vec4<f32>(q8_0_scale(scales[i0 / 2u], i0), q8_0_scale(scales[i1 / 2u], i1),
                      q8_0_scale(scales[i2 / 2u], i2), q8_0_scale(scales[i3 / 2u], i3));
    return Strip(
        mat4x4<f32>(q8_0_quad(q0.x) * d.x, q8_0_quad(q1.x) * d.y, q8_0_quad(q2.x) * d.z, q8_0_quad(q3.x) * d.w),
        mat4x4<f32>(q8_0_quad(q0.y) * d.x, q8_0_quad(q1.y) * d.y, q8_0_quad(q2.y) * d.z, q8_0_quad(q3.y) * d.w),
        mat4x4<f32>(q8_0_quad(q0.z) * d.x, q8_0_quad(q1.z) * d.y, q8_0_quad(q2.z) * d.z, q8_0_quad(q3.z) * d.w),
        mat4x4<f32>(q8_0_quad(q0.w) * d.x, q8_0_quad(q1.w) * d.y, q8_0_quad(q2.w) * d.z, q8_0_quad(q3.w) * d.w));
}
