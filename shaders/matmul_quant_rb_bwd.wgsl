// matmul_quant_rb_bwd: dx (M, K) (+)= dy (M, N) @ dequant(w) (N, K):
// dx[m*K+k] = (accumulate ? dx[m*K+k] : 0) + sum_n dy[m*N+n] * dequant(w)[n*K+k],
// the input gradient of a linear layer through frozen quantized weights.
// w stays quantized in memory (repacked GGUF blocks, engine/tensor.Packed)
// and is decoded in registers, exactly, by the forward's decoders
// (<type>_decode.wgsl). Register-blocked: each invocation keeps a 16x16
// tile of dx (16 m, 16 k) in registers, no workgroup memory, and runs
// over n 4 at a time: for fixed n, w[n][k..k+15] is half a block of one
// row, so each step reads 4 half blocks and 16 vec4 of dy for 1024 FMAs.
// Twin: engine/ref.MatMulBackward (dx only) on engine/tensor.Decode(w)
// (engine/ops.MatMulBackward.Quant).
// Include: rb_acc_tile.wgsl, rb_a_vec4.wgsl (N % 4 == 0) or rb_a_f32.wgsl
// (dy's a_block), rb_dx_io.wgsl (a_quad, old, put), then per type
// f16_decode.wgsl, <type>_decode.wgsl and <type>_dx_strip.wgsl, which
// defines wstrip(n, k): w rows n..n+3 (clamped to the last) at k..k+15.
// Bindings: a4, a1 (dy as vec4 and as f32: the one not read gets a 16-byte
// dummy), quants (vec4<u32>) read, scales (u32) read, dx (M, K)
// read_write, Params.
// Needs K % 32 == 0; any M, N >= 1. Rows of w past N are clamped to the
// last and meet dy's zeros there (so w must be finite, as weights are).
// Lanes and grid as in matmul_f32_rb_fwd with K for N: params.cols
// invocations along K, 64/cols along M; grid (ceil(K / (cols*16)),
// ceil(M / (64/cols*16))). The n loop runs ceil(N/4) times.

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
@group(0) @binding(2) var<storage, read> quants: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

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
