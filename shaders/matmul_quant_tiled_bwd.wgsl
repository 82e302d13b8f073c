// matmul_quant_tiled_bwd: dx (M, K) (+)= dy (M, N) @ dequant(w) (N, K):
// dx[m*K+k] = (accumulate ? dx[m*K+k] : 0) + sum_n dy[m*N+n] * dequant(w)[n*K+k],
// the input gradient of a linear layer through frozen quantized weights,
// tiled through workgroup memory for real GPUs: the backward twin of
// matmul_quant_tiled_fwd. A 16x16 workgroup computes a 64x64 tile of dx
// (64 m, 64 k); every 32 n it stages 64 rows of dy at those n and w rows
// n..n+31 at the tile's 64 k (two quant blocks per row), DECODED TO F32
// WHILE STAGING, in workgroup memory; each invocation then accumulates its
// 4x4 block from vec4 reads of them. w stays quantized in GPU memory
// (repacked GGUF blocks, engine/tensor.Packed) and every weight decodes
// exactly, so the sums are those of an f32 matmul on the decoded weights.
// Twin: engine/ref.MatMulBackward (dx only) on engine/tensor.Decode(w)
// (engine/ops.MatMulBackward.Quant, variant Tiled).
// Include, per type: f16_decode.wgsl, <type>_decode.wgsl,
// quant_tile_part.wgsl (WPart) and <type>_tile_stage.wgsl (the
// forward's), which defines wpart(b, p): quarter p (0..3) of block b of w,
// decoded.
// Bindings: dy (M, N) read, quants (u32, tensor.Packed.Quants) read,
// scales (u32, tensor.Packed.Scales) read, dx (M, K) read_write, Params.
// Needs K % 32 == 0; any M, N >= 1. Rows of dy past M are staged clamped
// to the last row (a staged dy row feeds only its own row of dx, never
// stored); n past N is staged as 0 in both dy and w (so nothing past N
// counts, whatever w's last row holds); blocks past K are staged clamped
// to the last block of their row and feed only columns never stored. No
// early return: every invocation must reach the barriers.
// Grid: (ceil(K/64), ceil(M/64)). The n loop runs ceil(N/32) times and
// is the only loop before the stores: lavapipe counts the iterations of
// ALL loops of an invocation against one budget of 65535 (gallivm's
// per-function loop limiter) and silently leaves every loop once it is
// spent, so the staging and the 32-n accumulation are unrolled by hand
// (a loop of 32 in the n loop gave wrong sums at N = 151936).

const TS: u32 = 64u; // rows (m) and columns (k) of dx per workgroup
const BN: u32 = 32u; // n staged per step
const WGN: u32 = 256u; // invocations per workgroup (16x16)

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32,       // unused here; the register-blocked kernels' lane split
    accumulate: u32, // 1: add to dx, 0: overwrite it
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> quants: array<u32>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// ys[nn][slot(i, nn)][c] = dy[m0 + 4i + c][n0 + nn]: transposed, so that
// one vec4 read gives 4 rows of dy at one n. ws[nn][j] = w[n0 + nn] at
// k0 + 4j..4j+3: w rows are already k-contiguous, as dx's tile wants
// them. Together they take 16 KiB, WebGPU's default workgroup storage
// limit: no room for a padding column, so ys's vec4 slots are swizzled.
var<workgroup> ys: array<array<vec4<f32>, 16>, BN>;
var<workgroup> ws: array<array<vec4<f32>, 16>, BN>;

// slot returns where a staged n row of ys keeps dy rows 4i..4i+3 (i < 16).
// A warp's staging writes cover 8 consecutive n at one i (see stage_dy):
// without the XOR they would all hit the same 4 banks (n rows are 64
// words apart); with it each n lands in another vec4 of 4 banks, so the
// warp's 32 words spread over all 32 banks. The compute reads of one n
// row stay 2 distinct vec4s per warp.
fn slot(i: u32, nn: u32) -> u32 {
    return i ^ (nn % 8u);
}

// dy_at returns dy[m][n] with m clamped to the last row, 0 past N.
fn dy_at(m: u32, n: u32) -> f32 {
    let v = dy[min(m, params.m - 1u) * params.n + min(n, params.n - 1u)];
    return select(0.0, v, n < params.n);
}

// stage_dy copies dy rows [m0, m0+64) at n [n0, n0+32) into ys, 0 past N:
// 8 values per invocation, row quads i, i+2, ..., i+14 at one n. A warp
// reads 4 rows (c) x 8 consecutive n, one 32-byte segment per row, and
// writes 8 whole vec4s.
fn stage_dy(m0: u32, n0: u32, li: u32) {
    let c = li % 4u; // row within the quad
    let nn = (li / 4u) % BN;
    let i = li / (4u * BN); // first quad of rows: 0 or 1
    let m = m0 + 4u * i + c;
    let n = n0 + nn;
    ys[nn][slot(i, nn)][c] = dy_at(m, n);
    ys[nn][slot(i + 2u, nn)][c] = dy_at(m + 8u, n);
    ys[nn][slot(i + 4u, nn)][c] = dy_at(m + 16u, n);
    ys[nn][slot(i + 6u, nn)][c] = dy_at(m + 24u, n);
    ys[nn][slot(i + 8u, nn)][c] = dy_at(m + 32u, n);
    ys[nn][slot(i + 10u, nn)][c] = dy_at(m + 40u, n);
    ys[nn][slot(i + 12u, nn)][c] = dy_at(m + 48u, n);
    ys[nn][slot(i + 14u, nn)][c] = dy_at(m + 56u, n);
}

// stage_w decodes w rows [n0, n0+32) at k [k0, k0+64), i.e. blocks
// k0/32 and k0/32+1 of each row, into ws, 0 past N: one quarter block
// (8 weights, one scale) per invocation, 8 neighbouring invocations
// reading one row's two blocks.
fn stage_w(n0: u32, k0: u32, li: u32) {
    let nn = li / 8u;
    let bb = (li / 4u) % 2u; // block of the tile's row
    let blocks = params.k / 32u;
    let n = n0 + nn;
    let b = min(k0 / 32u + bb, blocks - 1u);
    let part = wpart(min(n, params.n - 1u) * blocks + b, li % 4u);
    let keep = n < params.n;
    ws[nn][8u * bb + part.klo / 4u] = select(vec4<f32>(), part.lo, keep);
    ws[nn][8u * bb + part.khi / 4u] = select(vec4<f32>(), part.hi, keep);
}

// fma1 returns acc plus the products of staged n row nn for the
// invocation's 4x4 block (dy rows of quad ly, w columns of vec4 lx):
// acc[c][r] += dy[4ly + c][nn] * w[nn][4lx + r].
fn fma1(acc: mat4x4<f32>, nn: u32, ly: u32, lx: u32) -> mat4x4<f32> {
    let yv = ys[nn][slot(ly, nn)];
    let wv = ws[nn][lx];
    return acc + mat4x4<f32>(wv * yv.x, wv * yv.y, wv * yv.z, wv * yv.w);
}

// fma4 is fma1 over staged n rows nn..nn+3.
fn fma4(acc: mat4x4<f32>, nn: u32, ly: u32, lx: u32) -> mat4x4<f32> {
    return fma1(fma1(fma1(fma1(acc, nn, ly, lx), nn + 1u, ly, lx), nn + 2u, ly, lx), nn + 3u, ly, lx);
}

// fma32 is fma1 over all 32 staged n rows.
fn fma32(acc: mat4x4<f32>, ly: u32, lx: u32) -> mat4x4<f32> {
    let a = fma4(fma4(fma4(fma4(acc, 0u, ly, lx), 4u, ly, lx), 8u, ly, lx), 12u, ly, lx);
    return fma4(fma4(fma4(fma4(a, 16u, ly, lx), 20u, ly, lx), 24u, ly, lx), 28u, ly, lx);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wg.y * TS;
    let k0 = wg.x * TS;
    var acc = mat4x4<f32>(); // acc[c][r] = dx[m0 + 4 lid.y + c][k0 + 4 lid.x + r]
    for (var n0 = 0u; n0 < params.n; n0 += BN) {
        stage_dy(m0, n0, li);
        stage_w(n0, k0, li);
        workgroupBarrier();
        acc = fma32(acc, lid.y, lid.x);
        workgroupBarrier();
    }
    let m = m0 + 4u * lid.y;
    let k = k0 + 4u * lid.x;
    for (var c = 0u; c < 4u; c++) {
        for (var r = 0u; r < 4u; r++) {
            if (m + c < params.m && k + r < params.k) {
                let i = (m + c) * params.k + k + r;
                var v = acc[c][r];
                if (params.accumulate != 0u) {
                    v += dx[i];
                }
                dx[i] = v;
            }
        }
    }
}
