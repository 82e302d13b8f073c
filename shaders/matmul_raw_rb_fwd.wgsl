// matmul_raw_rb_fwd: y[m*N+n] = sum_k x[m*K+k] * decode(w)[n*K+k] for frozen
// weights w kept on the GPU as their GGUF file's bytes (F16, BF16, Q4_1,
// Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K, Q6_K), decoded in registers, exactly; the
// products and sums are those of matmul_f32_rb_fwd on the decoded weights.
// Register-blocked like it: each invocation computes a 16x16 tile of y with
// no workgroup memory.
// Twin: engine/ref.MatMul on engine/tensor.Decode(w) (engine/ops.RawMatMul).
// Include: rb_tile.wgsl (Strip, Tile, xquad, madd, step, store),
// f16_decode.wgsl, raw_bytes.wgsl, then the type's snippet(s) ending in
// <type>_raw_quad.wgsl, which defines wquad(row, k): elements k..k+3 of
// weight row row (k % 4 == 0, so the 4 share one block and its scales).
// Bindings: x (M, K) read, w (the N rows' GGUF bytes, padded to whole u32s)
// read, y (M, N) read_write, Params.
// Needs K % 4 == 0 and K a whole number of the type's blocks; any M, N >= 1.
// Rows past M or N are read clamped to the last row and never stored.
// Lanes and grid as in matmul_f32_rb_fwd: params.cols invocations along N,
// 64/cols along M; grid (ceil(N / (cols*16)), ceil(M / (64/cols*16))).
// Loops: K/4 steps of 4 k each.

const WG: u32 = 64u;
const TILE: u32 = 16u; // rows and columns of y per invocation

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32, // invocations of a workgroup along N
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// wrows returns w rows n..n+3 (clamped to the last) at k..k+3, transposed
// like matmul_f32_rb_fwd's wquad: column c is k+c.
fn wrows(n: u32, k: u32) -> mat4x4<f32> {
    let last = params.n - 1u;
    return transpose(mat4x4<f32>(wquad(min(n, last), k), wquad(min(n + 1u, last), k),
                                 wquad(min(n + 2u, last), k), wquad(min(n + 3u, last), k)));
}

// wstrip returns w rows n..n+15 at k..k+3, as four transposed quads.
fn wstrip(n: u32, k: u32) -> Strip {
    return Strip(wrows(n, k), wrows(n + 4u, k), wrows(n + 8u, k), wrows(n + 12u, k));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = (wg.y * (WG / params.cols) + li / params.cols) * TILE;
    let n0 = (wg.x * params.cols + li % params.cols) * TILE;
    var acc: Tile; // zero-initialized
    for (var kk = 0u; kk < params.k / 4u; kk++) {
        acc = step(acc, m0, kk, wstrip(n0, 4u * kk));
    }
    store(m0, n0, acc);
}
