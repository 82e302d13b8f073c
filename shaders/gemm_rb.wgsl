// gemm_rb: c (M, N) = alpha * op(a) @ op(b) + beta * c, all f32 row-major:
// c[m*N+n] = alpha * (sum over k of op(a)[m][k] * op(b)[k][n]) + beta * c[m*N+n],
// op(a) = a stored (M, K), or a^T for a stored (K, M) when a_trans;
// op(b) = b stored (K, N), or b^T for b stored (N, K) when b_trans.
// c is not read when beta = 0 (it may hold anything, NaN included).
// Twin: engine/ref.MatMul on transposed copies (engine/ops.Gemm); also the
// dX = dY @ W of engine/ref.MatMulBackward for f32 weights.
// Register-blocked as matmul_f32_rb_fwd: each invocation keeps a 16x16
// tile of c in registers (no workgroup memory), 4 k at a time.
// Include: rb_acc_tile.wgsl (Strip, Tile, step, axpby, store), then
// rb_a_vec4.wgsl or rb_a_f32.wgsl (a_block) and rb_b_vec4.wgsl or
// rb_b_f32.wgsl (b_block): vec4 for an operand whose stored rows are a
// multiple of 4 long (K or M for a, N or K for b), f32 otherwise.
// Bindings: a4, a1 (a as vec4 and as f32), b4, b1 (likewise), c (M, N)
// read_write, Params. The binding the kernel does not read gets a 16-byte
// dummy (a vec4 array needs 16 bytes).
// Any M, N, K >= 1: entries past an operand read as 0, outputs past c are
// never stored. The transposes are selects, not branches.
// Lanes and grid as in matmul_f32_rb_fwd: params.cols invocations along N,
// 64/cols along M; grid (ceil(N / (cols*16)), ceil(M / (64/cols*16))).
// The k loop runs ceil(K/4) times.

const WG: u32 = 64u;
const TILE: u32 = 16u; // rows and columns of c per invocation

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32,    // invocations of a workgroup along N
    a_trans: u32, // 1: a is stored (K, M)
    b_trans: u32, // 1: b is stored (N, K)
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a1: array<f32>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b1: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

// tr returns x, or its transpose when t.
fn tr(x: mat4x4<f32>, t: bool) -> mat4x4<f32> {
    let y = transpose(x);
    return mat4x4<f32>(select(x[0], y[0], t), select(x[1], y[1], t), select(x[2], y[2], t), select(x[3], y[3], t));
}

// a_quad returns op(a) rows m..m+3 at k..k+3, one row per column
// (rb_acc_tile's step): a block of a as stored, transposed when a_trans.
fn a_quad(m: u32, k: u32) -> mat4x4<f32> {
    let t = params.a_trans != 0u;
    return tr(a_block(select(m, k, t), select(k, m, t), select(params.m, params.k, t), select(params.k, params.m, t)), t);
}

// b_quad returns op(b) rows k..k+3 at n..n+3, one row per column: a
// block of b as stored, transposed when b_trans.
fn b_quad(k: u32, n: u32) -> mat4x4<f32> {
    let t = params.b_trans != 0u;
    return tr(b_block(select(k, n, t), select(n, k, t), select(params.k, params.n, t), select(params.n, params.k, t)), t);
}

// b_strip returns op(b) rows k..k+3 at n..n+15 as step's right operand,
// b<j>[i][r] = op(b)[k+i][n+4j+r].
fn b_strip(k: u32, n: u32) -> Strip {
    return Strip(b_quad(k, n), b_quad(k, n + 4u), b_quad(k, n + 8u), b_quad(k, n + 12u));
}

// old returns c[m][n], clamped to c (rb_acc_tile's axpby).
fn old(m: u32, n: u32) -> f32 {
    return c[min(m, params.m - 1u) * params.n + min(n, params.n - 1u)];
}

// put stores c[m][n] = v inside c (rb_acc_tile's store).
fn put(m: u32, n: u32, v: f32) {
    if (m < params.m && n < params.n) {
        c[m * params.n + n] = v;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = (wg.y * (WG / params.cols) + li / params.cols) * TILE;
    let n0 = (wg.x * params.cols + li % params.cols) * TILE;
    if (m0 >= params.m || n0 >= params.n) {
        return; // a lane past c (a narrow c leaves some): nothing to compute
    }
    var acc: Tile; // zero-initialized
    for (var k = 0u; k < params.k; k += 4u) {
        acc = step(acc, m0, k, b_strip(k, n0));
    }
    if (params.beta == 0.0) {
        acc = scale(params.alpha, acc);
    } else {
        acc = axpby(params.alpha, acc, params.beta, m0, n0, params.m);
    }
    store(m0, n0, acc);
}
