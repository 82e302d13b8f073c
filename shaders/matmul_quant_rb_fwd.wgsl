// matmul_quant_rb_fwd: y[m*N+n] = sum_k x[m*K+k] * dequant(w)[n*K+k] for
// quantized w. w stays quantized in memory (repacked GGUF blocks,
// engine/tensor.Packed) and is decoded in registers, exactly; the products
// and sums are those of matmul_f32_rb_fwd on the dequantized weights.
// Register-blocked like it: each invocation computes a 16x16 tile of y with
// no workgroup memory.
// Twin: engine/ref.MatMul on engine/tensor.Decode(w) (engine/ops.QuantMatMul).
// Include, per type: f16_decode.wgsl, <type>_decode.wgsl and
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

// Strip is 4 rows x 16 columns of y as four 4x4 blocks: b<j>[c][r] is row
// c, column 4j+r. Tile is 16x16: strip i holds rows 4i..4i+3. Named fields,
// not arrays: arrays in function memory end up in slow scratch memory on
// lavapipe.
struct Strip {
    b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>,
}

struct Tile {
    s0: Strip, s1: Strip, s2: Strip, s3: Strip,
}

// xquad returns x rows m..m+3 at k = 4kk..4kk+3, one row per column.
fn xquad(m: u32, kk: u32) -> mat4x4<f32> {
    let k4 = params.k / 4u;
    let last = params.m - 1u;
    return mat4x4<f32>(x[min(m, last) * k4 + kk], x[min(m + 1u, last) * k4 + kk],
                       x[min(m + 2u, last) * k4 + kk], x[min(m + 3u, last) * k4 + kk]);
}

// madd returns a plus 4 rows of x times the strip of w: (wt * xq)[c][r] = dot(x row c, w row r).
fn madd(a: Strip, xq: mat4x4<f32>, wt: Strip) -> Strip {
    return Strip(a.b0 + wt.b0 * xq, a.b1 + wt.b1 * xq, a.b2 + wt.b2 * xq, a.b3 + wt.b3 * xq);
}

// step adds x rows m..m+15 times wt (4 k values) to the tile.
fn step(t: Tile, m: u32, kk: u32, wt: Strip) -> Tile {
    return Tile(madd(t.s0, xquad(m, kk), wt), madd(t.s1, xquad(m + 4u, kk), wt),
                madd(t.s2, xquad(m + 8u, kk), wt), madd(t.s3, xquad(m + 12u, kk), wt));
}

fn store_block(m: u32, n: u32, blk: mat4x4<f32>) {
    var b = blk; // a var, so that it can be indexed by c and r
    for (var c = 0u; c < 4u; c++) {
        for (var r = 0u; r < 4u; r++) {
            if (m + c < params.m && n + r < params.n) {
                y[(m + c) * params.n + n + r] = b[c][r];
            }
        }
    }
}

fn store_strip(m: u32, n: u32, s: Strip) {
    store_block(m, n, s.b0);
    store_block(m, n + 4u, s.b1);
    store_block(m, n + 8u, s.b2);
    store_block(m, n + 12u, s.b3);
}

fn store(m: u32, n: u32, t: Tile) {
    store_strip(m, n, t.s0);
    store_strip(m + 4u, n, t.s1);
    store_strip(m + 8u, n, t.s2);
    store_strip(m + 12u, n, t.s3);
}

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
