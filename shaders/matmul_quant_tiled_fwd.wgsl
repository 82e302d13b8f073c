// matmul_quant_tiled_fwd: y[m*N+n] = sum_k x[m*K+k] * dequant(w)[n*K+k] for
// quantized w, tiled through workgroup memory for real GPUs: the quantized
// twin of matmul_f32_tiled_fwd. A 16x16 workgroup computes a 64x64 tile of
// y; every 32 k (one quant block of each w row, so one scale per staged row
// chunk) it stages 64 rows of x and that block of 64 rows of w, DECODED TO
// F32 WHILE STAGING, in workgroup memory; each invocation then accumulates
// its 4x4 block from vec4 reads of them. w stays quantized in GPU memory
// (repacked GGUF blocks, engine/tensor.Packed); every weight decodes
// exactly (an int8 or a nibble times an f16 scale), so the products and
// sums are those of an f32 matmul on the dequantized weights.
// Twin: engine/ref.MatMul on engine/tensor.Decode(w)
// (engine/ops.QuantMatMul, variant Tiled).
// Include, per type: f16_decode.wgsl, <type>_decode.wgsl,
// quant_tile_part.wgsl (WPart) and <type>_tile_stage.wgsl, which defines
// wpart(b, p): quarter p (0..3) of block b of w, decoded.
// Bindings: x (M, K) read, quants (u32, tensor.Packed.Quants) read,
// scales (u32, tensor.Packed.Scales) read, y (M, N) read_write, Params.
// Needs K % 32 == 0; any M, N >= 1. Rows past M or N are staged clamped to
// the last row: a staged x row feeds only its own row of y, a staged w row
// only its own column, and those are never stored. No early return: every
// invocation must reach the barriers.
// Grid: (ceil(N/64), ceil(M/64)). The k loop runs K/32 times.

const TS: u32 = 64u; // rows and columns of y per workgroup
const BK: u32 = 32u; // k staged per step: one quant block
const WGN: u32 = 256u; // invocations per workgroup (16x16)

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32, // unused here; the register-blocked kernels' lane split
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> quants: array<u32>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// xs[kk][slot(i, kk)][c] = x[m0 + 4i + c][k0 + kk]: transposed, so that one
// vec4 read gives 4 rows at one k; ws likewise for w rows n0 + 4i + c.
// Together they take 16 KiB, exactly WebGPU's default workgroup storage
// limit, which leaves no room for a padding column (matmul_f32_tiled_fwd's
// remedy for bank conflicts), so the vec4 slots are swizzled instead.
var<workgroup> xs: array<array<vec4<f32>, 16>, BK>;
var<workgroup> ws: array<array<vec4<f32>, 16>, BK>;

// slot returns where a staged k row keeps rows 4i..4i+3 (i < 16). Without
// the XOR, the 8 staging writes of one tile row (k = kk, kk+4, ..., 64
// words apart) would all hit one bank; with it each 4 k lands in another
// vec4, so a warp's staging writes spread over all 32 banks. Reads are
// unaffected: a warp's 16 reads of one k row stay 16 distinct vec4s.
fn slot(i: u32, kk: u32) -> u32 {
    return i ^ (kk / 4u);
}

// stage_x copies x rows [m0, m0+64) at k [k0, k0+32) into xs: 2 vec4 per
// invocation, 8 neighbouring invocations reading one row's 128 bytes.
fn stage_x(m0: u32, k0: u32, li: u32) {
    for (var e = li; e < TS * BK / 4u; e += WGN) {
        let r = e / 8u; // tile row
        let c = e % 8u; // vec4 of the row: k = k0+4c..k0+4c+3
        let m = min(m0 + r, params.m - 1u);
        let v = x[(m * params.k + k0) / 4u + c];
        for (var j = 0u; j < 4u; j++) {
            xs[4u * c + j][slot(r / 4u, 4u * c + j)][r % 4u] = v[j];
        }
    }
}

// stage_w decodes block b of w rows [n0, n0+64) into ws: 4 invocations per
// row, each one quarter of the block (8 weights, one scale).
fn stage_w(n0: u32, b: u32, li: u32) {
    let r = li / 4u; // tile row
    let n = min(n0 + r, params.n - 1u);
    let part = wpart(n * (params.k / BK) + b, li % 4u);
    for (var j = 0u; j < 4u; j++) {
        ws[part.klo + j][slot(r / 4u, part.klo + j)][r % 4u] = part.lo[j];
        ws[part.khi + j][slot(r / 4u, part.khi + j)][r % 4u] = part.hi[j];
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wg.y * TS;
    let n0 = wg.x * TS;
    var acc = mat4x4<f32>(); // acc[c][r] = y[m0 + 4 lid.y + c][n0 + 4 lid.x + r]
    for (var b = 0u; b < params.k / BK; b++) {
        stage_x(m0, b * BK, li);
        stage_w(n0, b, li);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let xv = xs[kk][slot(lid.y, kk)];
            let wv = ws[kk][slot(lid.x, kk)];
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
