// matmul_naive_fwd: y[m*N+n] = sum_k x[m*K+k] * w[n*K+k], one output per invocation.
// The baseline the faster variants are measured against; any M, N, K.
// Twin: engine/ref.MatMul (engine/ops.MatMul, variant Naive).
// Bindings: x (M, K) read, w (N, K) read, y (M, N) read_write, Params.
// Grid: (ceil(N/16), ceil(M/16)). The k loop runs K times (K <= 32768).

const WG: u32 = 16u;

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

@compute @workgroup_size(WG, WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    let m = gid.y;
    if (m >= params.m || n >= params.n) {
        return;
    }
    var s = 0.0;
    for (var k = 0u; k < params.k; k++) {
        s += x[m * params.k + k] * w[n * params.k + k];
    }
    y[m * params.n + n] = s;
}
