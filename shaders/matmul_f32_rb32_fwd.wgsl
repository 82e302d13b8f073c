// matmul_f32_rb32_fwd: y[m*N+n] = sum_k x[m*K+k] * w[n*K+k], register-blocked
// with a 32x32 tile of y per invocation (four of rb_tile.wgsl's 16x16
// Tiles), no workgroup memory. The large-shape twin of matmul_f32_rb_fwd
// for CPU adapters: there every storage load runs a loop over the SIMD
// lanes and costs tens of FMAs, so the 16 vec4 loads of x and w per 4 k
// (32 of each) that feed 32x32x4 FMAs here, twice the reuse of the 16x16
// tile, made it 1.5-1.75x the 16x16 kernel on lavapipe at 1024^3 and
// 256x576x1536 (ratios to the anchor in one run). The x rows are loaded
// once per k step and used for both 16-column halves. Costs: about 2-4 s of
// lavapipe compile (0.1 s for the 16x16 kernel), and 32x32 tiles waste
// work on small M or N, so the launcher picks it for large shapes only.
// Twin: engine/ref.MatMul (engine/ops.MatMul, variant RegisterBlocked).
// Bindings: x (M, K) read, w (N, K) read, y (M, N) read_write, Params.
// Needs K % 4 == 0 (rows are read as vec4); any M, N >= 1. Rows past M or
// N are read clamped to the last row and never stored.
// Lanes: a workgroup's 64 invocations form params.cols lanes along N and
// 64/cols along M.
// Grid: (ceil(N / (cols*32)), ceil(M / (64/cols*32))). The k loop runs K/4 times.
// Include: rb_tile.wgsl (Strip, Tile, xquad, madd, store).

const WG: u32 = 64u;
const TILE: u32 = 32u; // rows and columns of y per invocation

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32, // invocations of a workgroup along N
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// wquad returns w rows n..n+3 at k = 4kk..4kk+3, transposed: column c is k = 4kk+c.
fn wquad(n: u32, kk: u32) -> mat4x4<f32> {
    let k4 = params.k / 4u;
    let last = params.n - 1u;
    return transpose(mat4x4<f32>(w[min(n, last) * k4 + kk], w[min(n + 1u, last) * k4 + kk],
                                 w[min(n + 2u, last) * k4 + kk], w[min(n + 3u, last) * k4 + kk]));
}

// wstrip returns w rows n..n+15 at k = 4kk..4kk+3, as four transposed quads.
fn wstrip(n: u32, kk: u32) -> Strip {
    return Strip(wquad(n, kk), wquad(n + 4u, kk), wquad(n + 8u, kk), wquad(n + 12u, kk));
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
    let n0 = (wg.x * params.cols + li % params.cols) * TILE;
    // a<r><c>: rows m0+16r.., columns n0+16c.. (all zero-initialized).
    var a00: Tile;
    var a01: Tile;
    var a10: Tile;
    var a11: Tile;
    for (var kk = 0u; kk < params.k / 4u; kk++) {
        let x0 = xstrip(m0, kk);
        let x1 = xstrip(m0 + 16u, kk);
        let w0 = wstrip(n0, kk);
        a00 = stepx(a00, x0, w0);
        a10 = stepx(a10, x1, w0);
        let w1 = wstrip(n0 + 16u, kk);
        a01 = stepx(a01, x0, w1);
        a11 = stepx(a11, x1, w1);
    }
    store(m0, n0, a00);
    store(m0, n0 + 16u, a01);
    store(m0 + 16u, n0, a10);
    store(m0 + 16u, n0 + 16u, a11);
}
