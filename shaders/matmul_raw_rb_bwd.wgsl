// matmul_raw_rb_bwd: dx (M, K) (+)= dy (M, N) @ decode(w) (N, K):
// dx[m*K+k] = (accumulate ? dx[m*K+k] : 0) + sum_n dy[m*N+n] * decode(w)[n*K+k],
// the input gradient of a linear layer through frozen weights kept on the
// GPU as their GGUF file's bytes (F16, BF16, Q4_1, Q5_0, Q5_1, IQ4_NL,
// Q4_K, Q5_K, Q6_K), decoded in registers, exactly, by the forward's
// decoders (<type>_raw_quad.wgsl's wquad). Register-blocked as
// matmul_quant_rb_bwd: a 16x16 tile of dx (16 m, 16 k) per invocation, n
// 4 at a time, w rows read along k as the forward reads them.
// Twin: engine/ref.MatMulBackward (dx only) on engine/tensor.Decode(w)
// (engine/ops.MatMulBackward.Raw).
// Include: rb_acc_tile.wgsl, rb_a_vec4.wgsl (N % 4 == 0) or rb_a_f32.wgsl
// (dy's a_block), rb_dx_io.wgsl (a_quad, old, put), f16_decode.wgsl,
// raw_bytes.wgsl, then the type's snippet(s) ending in
// <type>_raw_quad.wgsl, which defines wquad(row, k): elements k..k+3 of
// weight row row (k % 4 == 0).
// Bindings: a4, a1 (dy as vec4 and as f32: the one not read gets a 16-byte
// dummy), w (the N rows' GGUF bytes, padded to whole u32s) read, dx (M, K)
// read_write, Params.
// Needs K % 4 == 0 and K a whole number of the type's blocks; any M, N >= 1.
// Rows of w past N are clamped to the last and meet dy's zeros there (so
// w must be finite, as weights are); columns past K are clamped and never
// stored.
// Lanes and grid as in matmul_quant_rb_bwd. The n loop runs ceil(N/4) times.

const WG: u32 = 64u;
const TILE: u32 = 16u; // rows and columns of dx per invocation

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32,       // invocations of a workgroup along K
    accumulate: u32, // 1: add to dx, 0: overwrite it
}

@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>; // dy
@group(0) @binding(1) var<storage, read> a1: array<f32>;       // dy
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// wrows returns w rows n..n+3 (clamped to the last) at k..k+3 (clamped to
// the row), one row per column.
fn wrows(n: u32, k: u32) -> mat4x4<f32> {
    let last = params.n - 1u;
    let kk = min(k, params.k - 4u);
    return mat4x4<f32>(wquad(min(n, last), kk), wquad(min(n + 1u, last), kk),
                       wquad(min(n + 2u, last), kk), wquad(min(n + 3u, last), kk));
}

// wstrip returns w rows n..n+3 at k..k+15 as step's right operand:
// b<j>[i][r] = w[n+i][k+4j+r].
fn wstrip(n: u32, k: u32) -> Strip {
    return Strip(wrows(n, k), wrows(n, k + 4u), wrows(n, k + 8u), wrows(n, k + 12u));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = (wg.y * (WG / params.cols) + li / params.cols) * TILE;
    let k0 = (wg.x * params.cols + li % params.cols) * TILE;
    if (m0 >= params.m || k0 >= params.k) {
        return; // a lane past dx: nothing to compute
    }
    var acc: Tile; // zero-initialized
    for (var n = 0u; n < params.n; n += 4u) {
        acc = step(acc, m0, n, wstrip(n, k0));
    }
    if (params.accumulate != 0u) {
        acc = axpby(1.0, acc, 1.0, m0, k0, params.m);
    }
    store(m0, k0, acc);
}
