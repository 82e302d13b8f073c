// matmul_quant_rbw_fwd: y[m*N+n] = sum_k x[m*K+k] * dequant(w)[n*K+k] for
// quantized w, register-blocked with a 16x32 tile of y per invocation (16
// rows of x, 32 rows of w): the large-shape ("wide") twin of
// matmul_quant_rb_fwd (16x16). w stays quantized in memory (repacked GGUF
// blocks, engine/tensor.Packed) and is decoded in registers, exactly; the
// products and sums are those of matmul_f32_rb_fwd on the dequantized
// weights.
// Why wide: on CPU adapters every storage load costs tens of FMAs, and here
// most loads are of x (a block of 32 k is 8 vec4 per x row, but 1 (Q4_0) or
// 2 (Q8_0) vec4 and a scale per w row), so 32 columns per invocation, each
// x load feeding twice the FMAs, cut the loads per FMA by 40%. A 32x32 tile
// took lavapipe minutes to compile.
// Twin: engine/ref.MatMul on engine/tensor.Decode(w) (engine/ops.QuantMatMul).
// Include: rb_tile.wgsl (Strip, Tile, xquad, madd, store), then per type:
// f16_decode.wgsl, <type>_decode.wgsl and <type>_rb_quad.wgsl (Quad,
// wquad(n, b), decode(q, j); see matmul_quant_rb_fwd.wgsl).
// Bindings: x (M, K) read, quants (vec4<u32>, tensor.Packed.Quants) read,
// scales (u32, tensor.Packed.Scales) read, y (M, N) read_write, Params.
// Needs K % 32 == 0; any M, N >= 1. Rows past M or N are read clamped to
// the last row and never stored.
// Lanes: params.cols invocations along N, 64/cols along M; grid
// (ceil(N / (cols*32)), ceil(M / (64/cols*16))).
// Loops: K/32 blocks, 8 steps of 4 k each.

const WG: u32 = 64u;
const TILE: u32 = 16u; // rows of y per invocation; columns: 2*TILE

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

// xstrip returns x rows m..m+15 at k = 4kk..4kk+3 as four xquads (in a
// Strip's fields: b<i> holds rows m+4i..m+4i+3).
fn xstrip(m: u32, kk: u32) -> Strip {
    return Strip(xquad(m, kk), xquad(m + 4u, kk), xquad(m + 8u, kk), xquad(m + 12u, kk));
}

// stepx adds x rows (xs, as xstrip returns them) times wt to the 16x16 tile t.
fn stepx(t: Tile, xs: Strip, wt: Strip) -> Tile {
    return Tile(madd(t.s0, xs.b0, wt), madd(t.s1, xs.b1, wt), madd(t.s2, xs.b2, wt), madd(t.s3, xs.b3, wt));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = (wg.y * (WG / params.cols) + li / params.cols) * TILE;
    let n0 = (wg.x * params.cols + li % params.cols) * 2u * TILE;
    var a0: Tile; // columns n0..n0+15 (zero-initialized)
    var a1: Tile; // columns n0+16..n0+31
    for (var b = 0u; b < params.k / 32u; b++) {
        let q0 = wquads(n0, b);
        let q1 = wquads(n0 + 16u, b);
        // The bound is 8 (K >= 32), written so that the compiler does not
        // unroll the loop: 8 copies of its body multiply the compile time.
        for (var j = 0u; j < min(params.k, 8u); j++) {
            let xs = xstrip(m0, 8u * b + j);
            a0 = stepx(a0, xs, wstrip(q0, j));
            a1 = stepx(a1, xs, wstrip(q1, j));
        }
    }
    store(m0, n0, a0);
    store(m0, n0 + 16u, a1);
}
