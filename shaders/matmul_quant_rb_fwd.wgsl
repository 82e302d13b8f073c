// matmul_quant_rb_fwd: y[m*N+n] = sum_k x[m*K+k] * dequant(w)[n*K+k] for
// quantized w. w stays quantized in memory (repacked GGUF blocks,
// engine/tensor.Packed) and is decoded in registers, exactly; the products
// and sums are those of matmul_f32_rb_fwd on the dequantized weights.
// Register-blocked like it: each invocation computes a 16x16 tile of y with
// no workgroup memory.
// Twin: engine/ref.MatMul on engine/tensor.Decode(w) (engine/ops.QuantMatMul).
// Include: rb_tile.wgsl (Strip, Tile, xquad, madd, step, store), then per
// type: f16_decode.wgsl, <type>_decode.wgsl and
// <type>_rb_quad.wgsl, which defines Quad (one block of 4 rows of w, still
// quantized), wquad(n, b) (loads block b of rows n..n+3) and decode(q, j)
// (k = 4j..4j+3 of the block, transposed as matmul_f32_rb_fwd's wquad).
// Bindings: x (M, K) read, quants (vec4<u32>, tensor.Packed.Quants) read,
// scales (u32, tensor.Packed.Scales) read, y (M, N) read_write, Params.
// Needs K % 32 == 0; any M, N >= 1. Rows past M or N are read clamped to
// the last row and never stored.
// Lanes and grid as in matmul_f32_rb_fwd: params.cols invocations along N,
// 64/cols along M; grid (ceil(N / (cols*16)), ceil(M / (64/cols*16))).
// Loops: K/32 blocks, 8 steps of 4 k each.

const WG: u32 = 64u;
const TILE: u32 = 16u; // rows and columns of y per invocation

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32, // invocations of a workgroup along N
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> quants: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Quads is one block of 16 consecutive rows of w.
struct Quads {
    c0: Quad, c1: Quad, c2: Quad, c3: Quad,
}

fn wquads(n: u32, b: u32) -> Quads {
    return Quads(wquad(n, b), wquad(n + 4u, b), wquad(n + 8u, b), wquad(n + 12u, b));
}

fn wstrip(q: Quads, j: u32) -> Strip {
    return Strip(decode(q.c0, j), decode(q.c1, j), decode(q.c2, j), decode(q.c3, j));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = (wg.y * (WG / params.cols) + li / params.cols) * TILE;
    let n0 = (wg.x * params.cols + li % params.cols) * TILE;
    var acc: Tile; // zero-initialized
    for (var b = 0u; b < params.k / 32u; b++) {
        let q = wquads(n0, b);
        for (var j = 0u; j < 8u; j++) {
            acc = step(acc, m0, 8u * b + j, wstrip(q, j));
        }
    }
    store(m0, n0, acc);
}
