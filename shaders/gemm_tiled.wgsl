// gemm_tiled: c (M, N) = alpha * op(a) @ op(b) + beta * c, all f32 row-major:
// c[m*N+n] = alpha * (sum over k of op(a)[m][k] * op(b)[k][n]) + beta * c[m*N+n],
// op(a) = a stored (M, K), or a^T for a stored (K, M) when a_trans;
// op(b) = b stored (K, N), or b^T for b stored (N, K) when b_trans.
// c is not read when beta = 0 (it may hold anything, NaN included).
// Tiled through workgroup memory for real GPUs: gemm_rb's twin for
// variant Tiled, laid out as matmul_quant_tiled_fwd. A 16x16 workgroup
// computes a 64x64 tile of c; every 32 k it stages op(a) rows m0..m0+63
// and op(b) columns n0..n0+63 at those k in workgroup memory, each
// transposed to [k][row] so that one vec4 read gives 4 rows at one k; each
// invocation then accumulates its 4x4 block from vec4 reads of them.
// Twin: engine/ref.MatMul on transposed copies (engine/ops.Gemm, variant
// Tiled); also the dX = dY @ W of engine/ref.MatMulBackward for f32 weights.
// Bindings: a, b read, c (M, N) read_write, Params.
// Any M, N, K >= 1: entries past an operand stage as 0 (its reads are
// clamped inside it), outputs past c are never stored. No early return:
// every invocation must reach the barriers.
// Grid: (ceil(N/64), ceil(M/64)). The k loop runs ceil(K/32) times and is
// the only loop before the stores: lavapipe counts the iterations of ALL
// loops of an invocation against one budget of 65535 (gallivm's
// per-function loop limiter) and silently leaves every loop once it is
// spent, so the staging and the 32-k accumulation are unrolled by hand.

const TS: u32 = 64u; // rows and columns of c per workgroup
const BK: u32 = 32u; // k staged per step

struct Params {
    m: u32,
    n: u32,
    k: u32,
    cols: u32,    // unused here; gemm_rb's lane split
    a_trans: u32, // 1: a is stored (K, M)
    b_trans: u32, // 1: b is stored (N, K)
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// sa[kk][slot(i, kk)][r] = op(a)[m0 + 4i + r][k0 + kk]; sb likewise for
// op(b) columns n0 + 4i + r. Together they take 16 KiB, WebGPU's default
// workgroup storage limit: no room for a padding column, so the vec4
// slots are swizzled instead.
var<workgroup> sa: array<array<vec4<f32>, 16>, BK>;
var<workgroup> sb: array<array<vec4<f32>, 16>, BK>;

// slot returns where staged k row kk keeps rows 4i..4i+3 (i < 16). A
// warp's staging writes (see spot) are 8 consecutive kk at one i, or 32
// consecutive rows at one kk; the XOR puts either set in 32 distinct
// banks (k rows are 64 words apart, so without it the first would hit
// only 4). A warp's compute reads of one k row stay distinct vec4s.
fn slot(i: u32, kk: u32) -> u32 {
    return i ^ (kk % 8u);
}

// a_at returns op(a)[m][k], 0 past M or K.
fn a_at(m: u32, k: u32) -> f32 {
    let mc = min(m, params.m - 1u);
    let kc = min(k, params.k - 1u);
    let v = a[select(mc * params.k + kc, kc * params.m + mc, params.a_trans != 0u)];
    return select(0.0, v, m < params.m && k < params.k);
}

// b_at returns op(b)[k][n], 0 past K or N.
fn b_at(k: u32, n: u32) -> f32 {
    let kc = min(k, params.k - 1u);
    let nc = min(n, params.n - 1u);
    let v = b[select(kc * params.n + nc, nc * params.k + kc, params.b_trans != 0u)];
    return select(0.0, v, k < params.k && n < params.n);
}

// spot returns (row, kk) of value j (0..7) of invocation li in a staged
// 64-row x 32-k tile. For an operand stored with k contiguous (kcontig) a
// warp reads 4 rows x 8 consecutive k (one 32-byte segment per row);
// otherwise 32 consecutive rows at one k (128 bytes).
fn spot(li: u32, j: u32, kcontig: bool) -> vec2<u32> {
    let along_k = vec2<u32>(4u * (li / 128u) + li % 4u + 8u * j, (li / 4u) % BK);
    let along_rows = vec2<u32>(li % TS, li / TS + 4u * j);
    return select(along_rows, along_k, kcontig);
}

// stage1 stages value j of invocation li of both tiles.
fn stage1(m0: u32, n0: u32, k0: u32, li: u32, j: u32) {
    let sa_at = spot(li, j, params.a_trans == 0u);
    sa[sa_at.y][slot(sa_at.x / 4u, sa_at.y)][sa_at.x % 4u] = a_at(m0 + sa_at.x, k0 + sa_at.y);
    let sb_at = spot(li, j, params.b_trans != 0u);
    sb[sb_at.y][slot(sb_at.x / 4u, sb_at.y)][sb_at.x % 4u] = b_at(k0 + sb_at.y, n0 + sb_at.x);
}

// stage copies op(a) rows [m0, m0+64) and op(b) columns [n0, n0+64) at k
// [k0, k0+32) into sa and sb, 0 past the edges: 8 values of each per
// invocation, unrolled by hand (see the loop budget above).
fn stage(m0: u32, n0: u32, k0: u32, li: u32) {
    stage1(m0, n0, k0, li, 0u);
    stage1(m0, n0, k0, li, 1u);
    stage1(m0, n0, k0, li, 2u);
    stage1(m0, n0, k0, li, 3u);
    stage1(m0, n0, k0, li, 4u);
    stage1(m0, n0, k0, li, 5u);
    stage1(m0, n0, k0, li, 6u);
    stage1(m0, n0, k0, li, 7u);
}

// fma1 returns acc plus the products of staged k row kk for the
// invocation's 4x4 block (a rows of quad ly, b columns of quad lx):
// acc[r][q] += op(a)[4ly + r][kk] * op(b)[kk][4lx + q].
fn fma1(acc: mat4x4<f32>, kk: u32, ly: u32, lx: u32) -> mat4x4<f32> {
    let av = sa[kk][slot(ly, kk)];
    let bv = sb[kk][slot(lx, kk)];
    return acc + mat4x4<f32>(bv * av.x, bv * av.y, bv * av.z, bv * av.w);
}

// fma4 is fma1 over staged k rows kk..kk+3.
fn fma4(acc: mat4x4<f32>, kk: u32, ly: u32, lx: u32) -> mat4x4<f32> {
    return fma1(fma1(fma1(fma1(acc, kk, ly, lx), kk + 1u, ly, lx), kk + 2u, ly, lx), kk + 3u, ly, lx);
}

// fma32 is fma1 over all 32 staged k rows.
fn fma32(acc: mat4x4<f32>, ly: u32, lx: u32) -> mat4x4<f32> {
    let t = fma4(fma4(fma4(fma4(acc, 0u, ly, lx), 4u, ly, lx), 8u, ly, lx), 12u, ly, lx);
    return fma4(fma4(fma4(fma4(t, 16u, ly, lx), 20u, ly, lx), 24u, ly, lx), 28u, ly, lx);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wg.y * TS;
    let n0 = wg.x * TS;
    var acc = mat4x4<f32>(); // acc[r][q] = the sum for c[m0 + 4 lid.y + r][n0 + 4 lid.x + q]
    for (var k0 = 0u; k0 < params.k; k0 += BK) {
        stage(m0, n0, k0, li);
        workgroupBarrier();
        acc = fma32(acc, lid.y, lid.x);
        workgroupBarrier();
    }
    let m = m0 + 4u * lid.y;
    let n = n0 + 4u * lid.x;
    for (var r = 0u; r < 4u; r++) {
        for (var q = 0u; q < 4u; q++) {
            if (m + r < params.m && n + q < params.n) {
                let i = (m + r) * params.n + n + q;
                var v = params.alpha * acc[r][q];
                if (params.beta != 0.0) {
                    v += params.beta * c[i];
                }
                c[i] = v;
            }
        }
    }
}
