// q8_0_rb_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q8_0_decode.wgsl, to
// matmul_quant_rb_fwd.wgsl: how that kernel loads and decodes Q8_0 blocks
// (a vec4<u32> load brings 16 weights). It reads the kernel's quants,
// scales and params.

// Quad is one block (32 k) of 4 consecutive rows of w, still quantized:
// row i's quants are lo<i> (elements 0..15) and hi<i> (16..31), its scale d[i].
struct Quad {
    lo0: vec4<u32>, hi0: vec4<u32>, lo1: vec4<u32>, hi1: vec4<u32>,
    lo2: vec4<u32>, hi2: vec4<u32>, lo3: vec4<u32>, hi3: vec4<u32>,
    d: vec4<f32>,
}

// wquad loads block b of w rows n..n+3 (rows clamped to the last).
fn wquad(n: u32, b: u32) -> Quad {
    let blocks = params.k / 32u;
    let last = params.n - 1u;
    let i0 = min(n, last) * blocks + b;
    let i1 = min(n + 1u, last) * blocks + b;
    let i2 = min(n + 2u, last) * blocks + b;
    let i3 = min(n + 3u, last) * blocks + b;
    let d = vec4<f32>(q8_0_scale(scales[i0 / 2u], i0), q8_0_scale(scales[i1 / 2u], i1),
                      q8_0_scale(scales[i2 / 2u], i2), q8_0_scale(scales[i3 / 2u], i3));
    return Quad(quants[2u * i0], quants[2u * i0 + 1u], quants[2u * i1], quants[2u * i1 + 1u],
                quants[2u * i2], quants[2u * i2 + 1u], quants[2u * i3], quants[2u * i3 + 1u], d);
}

// decode returns k = 4j..4j+3 of the block (j = 0..7) for the quad's 4 rows,
// transposed like matmul_f32_rb_fwd's wquad: column c is k = 4j+c.
fn decode(q: Quad, j: u32) -> mat4x4<f32> {
    let i = j % 4u;
    let hi = j >= 4u;
    return transpose(mat4x4<f32>(q8_0_quad(select(q.lo0[i], q.hi0[i], hi)) * q.d.x,
                                 q8_0_quad(select(q.lo1[i], q.hi1[i], hi)) * q.d.y,
                                 q8_0_quad(select(q.lo2[i], q.hi2[i], hi)) * q.d.z,
                                 q8_0_quad(select(q.lo3[i], q.hi3[i], hi)) * q.d.w));
}

