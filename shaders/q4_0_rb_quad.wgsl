// q4_0_rb_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q4_0_decode.wgsl, to
// matmul_quant_rb_fwd.wgsl: how that kernel loads and decodes Q4_0 blocks
// (one vec4<u32> load brings a whole block, 32 weights). It reads the
// kernel's quants, scales and params.

// Quad is one block (32 k) of 4 consecutive rows of w, still quantized:
// row i's 16 quant bytes are q<i>, its scale d[i].
struct Quad {
    q0: vec4<u32>, q1: vec4<u32>, q2: vec4<u32>, q3: vec4<u32>,
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
    let d = vec4<f32>(q4_0_scale(scales[i0 / 2u], i0), q4_0_scale(scales[i1 / 2u], i1),
                      q4_0_scale(scales[i2 / 2u], i2), q4_0_scale(scales[i3 / 2u], i3));
    return Quad(quants[i0], quants[i1], quants[i2], quants[i3], d);
}

// nibbles returns elements 4j..4j+3 of a block (j = 0..7) from its quant
// words, minus 8: low nibbles of word j for j < 4, high nibbles of word j-4 after.
fn nibbles(q: vec4<u32>, j: u32) -> vec4<f32> {
    let word = q[j % 4u];
    return select(q4_0_lo(word), q4_0_hi(word), j >= 4u);
}

// decode returns k = 4j..4j+3 of the block (j = 0..7) for the quad's 4 rows,
// transposed like matmul_f32_rb_fwd's wquad: column c is k = 4j+c.
fn decode(q: Quad, j: u32) -> mat4x4<f32> {
    return transpose(mat4x4<f32>(nibbles(q.q0, j) * q.d.x, nibbles(q.q1, j) * q.d.y,
                                 nibbles(q.q2, j) * q.d.z, nibbles(q.q3, j) * q.d.w));
}

