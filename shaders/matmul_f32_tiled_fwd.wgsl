// matmul_f32_tiled_fwd: y[m*N+n] = sum_k x[m*K+k] * w[n*K+k], tiled through
// workgroup memory for real GPUs: a 16x16 workgroup computes a 64x64 tile of
// y; every 16 k it stages 64 rows of x and 64 rows of w in workgroup memory
// (coalesced: 16 neighbouring invocations read 16 consecutive k of one row),
// then each invocation accumulates its 4x4 block from vec4 reads of them.
// Twin: engine/ref.MatMul (engine/ops.MatMul, variant Tiled).
// Bindings: x (M, K) read, w (N, K) read, y (M, N) read_write, Params.
// Any M, N, K: loads past the edges read 0 and are never stored. No early
// return: every invocation must reach the barriers.
// Grid: (ceil(N/64), ceil(M/64)). The k loop runs ceil(K/16) times.

const TS: u32 = 64u; // rows and columns of y per workgroup
const BK: u32 = 16u; // k staged per step
const LD: u32 = 17u; // vec4s per staged row: 16, plus one against bank conflicts

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32, // unused here; the register-blocked variant's lane split
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// xs[kk][i][c] = x[m0 + 4i + c][k0 + kk]: transposed, so that one vec4 read
// gives 4 rows at one k. ws likewise for w and n0.
var<workgroup> xs: array<array<vec4<f32>, LD>, BK>;
var<workgroup> ws: array<array<vec4<f32>, LD>, BK>;

// stage copies x and w rows [m0, m0+64) and [n0, n0+64) at k [k0, k0+16)
// into xs and ws, zero past the edges: 4 values of each per invocation.
fn stage(m0: u32, n0: u32, k0: u32, li: u32) {
    for (var e = li; e < TS * BK; e += 256u) {
        let r = e / BK;
        let kk = e % BK;
        let k = k0 + kk;
        var xv = 0.0;
        if (m0 + r < params.m && k < params.k) {
            xv = x[(m0 + r) * params.k + k];
        }
        xs[kk][r / 4u][r % 4u] = xv;
        var wv = 0.0;
        if (n0 + r < params.n && k < params.k) {
            wv = w[(n0 + r) * params.k + k];
        }
        ws[kk][r / 4u][r % 4u] = wv;
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wg.y * TS;
    let n0 = wg.x * TS;
    var acc = mat4x4<f32>(); // acc[c][r] = y[m0 + 4 lid.y + c][n0 + 4 lid.x + r]
    for (var k0 = 0u; k0 < params.k; k0 += BK) {
        stage(m0, n0, k0, li);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let xv = xs[kk][lid.y];
            let wv = ws[kk][lid.x];
            acc += mat4x4<f32>(wv * xv.x, wv * xv.y, wv * xv.z, wv * xv.w);
        }
        workgroupBarrier();
    }
    let m = m0 + 4u * lid.y;
    let n = n0 + 4u * lid.x;
    for (var c = 0u; c < 4u; c++) {
        for (var r = 0u; r < 4u; r++) {
            if (m + c < params.m && n + r < params.n) {
                y[(m + c) * params.n + n + r] = acc[c][r];
            }
        }
    }
}
