// matmul_anchor_fwd: c (M, N) = a (M, K) @ b (K, N), all f32 row-major:
// c[m*N+n] = sum over k of a[m*K+k] * b[k*N+n].
// The benchmark yardstick ("anchor"): a straightforward register-blocked
// matmul with no workgroup memory. Each invocation of an 8x8 workgroup
// computes an 8x16 block of c straight from storage: per 4-wide k step it
// loads 8 vec4 of a (rows m0..m0+7 at k..k+3) and 16 vec4 of b (rows
// k..k+3, columns n0..n0+15) and does 128 vec4 FMAs (each of the 8 rows
// times a 4x16 slab of b). Not used by the engine: its figures are the
// reference the engine's kernels are read against.
// Twin: engine/ref.MatMul with w = b^T (engine/ops.AnchorMatMul).
// Bindings: a (M, K) read, b (K, N) read, c (M, N) read_write, Params.
// Needs K % 4 == 0 and N % 4 == 0 (rows are read and written as vec4);
// any M >= 1. Rows past M and vec4 columns past N are read clamped to the
// last one and never stored.
// Grid: (ceil(N / 128), ceil(M / 64)). The k loop runs K/4 times.

const ROWS: u32 = 8u;  // rows of c per invocation
const COLS4: u32 = 4u; // vec4 columns of c per invocation (16 floats)

struct Params {
    m: u32,
    k: u32,
    n: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

// slab returns b rows r..r+3 (r = 4 kk) at vec4 column j as the columns
// of a matrix, so that slab * av = sum over i of av[i] * b[r+i][j]:
// four vec4 FMAs.
fn slab(r: u32, n4: u32, j: u32) -> mat4x4<f32> {
    return mat4x4<f32>(b[r * n4 + j], b[(r + 1u) * n4 + j], b[(r + 2u) * n4 + j], b[(r + 3u) * n4 + j]);
}

// outer returns the 16 outputs one row of a adds: av times the 4x16 slab.
fn outer(av: vec4<f32>, s0: mat4x4<f32>, s1: mat4x4<f32>, s2: mat4x4<f32>, s3: mat4x4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(s0 * av, s1 * av, s2 * av, s3 * av);
}

// put stores one row's 16 outputs (column j = vec4 j) where they exist.
fn put(row: u32, col0: u32, n4: u32, acc: mat4x4<f32>) {
    if (row >= params.m) {
        return;
    }
    let o = row * n4 + col0;
    c[o] = acc[0]; // col0 < n4 (checked in main)
    if (col0 + 1u < n4) {
        c[o + 1u] = acc[1];
    }
    if (col0 + 2u < n4) {
        c[o + 2u] = acc[2];
    }
    if (col0 + 3u < n4) {
        c[o + 3u] = acc[3];
    }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k4 = params.k / 4u;
    let n4 = params.n / 4u;
    let row0 = gid.y * ROWS;
    let col0 = gid.x * COLS4;
    if (row0 >= params.m || col0 >= n4) {
        return;
    }
    let lastRow = params.m - 1u;
    let lastCol = n4 - 1u;
    // Offsets of the 8 rows of a, and the 4 vec4 columns of b, clamped.
    let r0 = min(row0, lastRow) * k4;
    let r1 = min(row0 + 1u, lastRow) * k4;
    let r2 = min(row0 + 2u, lastRow) * k4;
    let r3 = min(row0 + 3u, lastRow) * k4;
    let r4 = min(row0 + 4u, lastRow) * k4;
    let r5 = min(row0 + 5u, lastRow) * k4;
    let r6 = min(row0 + 6u, lastRow) * k4;
    let r7 = min(row0 + 7u, lastRow) * k4;
    let j0 = col0;
    let j1 = min(col0 + 1u, lastCol);
    let j2 = min(col0 + 2u, lastCol);
    let j3 = min(col0 + 3u, lastCol);
    var c0 = mat4x4<f32>();
    var c1 = mat4x4<f32>();
    var c2 = mat4x4<f32>();
    var c3 = mat4x4<f32>();
    var c4 = mat4x4<f32>();
    var c5 = mat4x4<f32>();
    var c6 = mat4x4<f32>();
    var c7 = mat4x4<f32>();
    for (var kk = 0u; kk < k4; kk++) {
        let r = 4u * kk;
        let s0 = slab(r, n4, j0);
        let s1 = slab(r, n4, j1);
        let s2 = slab(r, n4, j2);
        let s3 = slab(r, n4, j3);
        c0 += outer(a[r0 + kk], s0, s1, s2, s3);
        c1 += outer(a[r1 + kk], s0, s1, s2, s3);
        c2 += outer(a[r2 + kk], s0, s1, s2, s3);
        c3 += outer(a[r3 + kk], s0, s1, s2, s3);
        c4 += outer(a[r4 + kk], s0, s1, s2, s3);
        c5 += outer(a[r5 + kk], s0, s1, s2, s3);
        c6 += outer(a[r6 + kk], s0, s1, s2, s3);
        c7 += outer(a[r7 + kk], s0, s1, s2, s3);
    }
    put(row0, col0, n4, c0);
    put(row0 + 1u, col0, n4, c1);
    put(row0 + 2u, col0, n4, c2);
    put(row0 + 3u, col0, n4, c3);
    put(row0 + 4u, col0, n4, c4);
    put(row0 + 5u, col0, n4, c5);
    put(row0 + 6u, col0, n4, c6);
    put(row0 + 7u, col0, n4, c7);
}
