// matmul_f32_rb_fwd: y[m*N+n] = sum_k x[m*K+k] * w[n*K+k], register-blocked.
// Each invocation computes a 16x16 tile of y from vec4 loads and keeps it in
// registers; no workgroup memory. Made for CPU adapters (lavapipe,
// SwiftShader), where a load costs far more than an FMA: every loaded vec4
// of x or w feeds 16 x 4 FMAs, and a vec4 load costs about what a scalar
// one does (reading x and w as array<f32> halved the speed). On lavapipe a
// 32x32 tile ran 15-25% faster but took 11 s instead of 0.8 s to compile.
// Twin: engine/ref.MatMul (engine/ops.MatMul, variant RegisterBlocked).
// Bindings: x (M, K) read, w (N, K) read, y (M, N) read_write, Params.
// Needs K % 4 == 0 (rows are read as vec4); any M, N >= 1. Rows past M or
// N are read clamped to the last row and never stored.
// Lanes: a workgroup's 64 invocations form params.cols lanes along N and
// 64/cols along M (cols a power of two, chosen by the launcher so that a
// small M or N wastes few lanes).
// Grid: (ceil(N / (cols*16)), ceil(M / (64/cols*16))). The k loop runs K/4 times.
// Include: rb_tile.wgsl (Strip, Tile, xquad, madd, step, store).

const WG: u32 = 64u;
const TILE: u32 = 16u; // rows and columns of y per invocation

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = (wg.y * (WG / params.cols) + li / params.cols) * TILE;
    let n0 = (wg.x * params.cols + li % params.cols) * TILE;
    var acc: Tile; // zero-initialized
    for (var kk = 0u; kk < params.k / 4u; kk++) {
        acc = step(acc, m0, kk, wstrip(n0, kk));
    }
    store(m0, n0, acc);
}
