// rb_tile: a shared snippet (no bindings, no entry point) that Go prepends
// to the register-blocked matmuls (matmul_f32_rb_fwd, matmul_quant_rb_fwd):
// the 16x16 output tile kept in registers, the x loads and the stores. It
// reads the kernel's x, params and writes its y.

// Strip is 4 rows x 16 columns of y as four 4x4 blocks: b<j>[c][r] is row
// c, column 4j+r. Tile is 16x16: strip i holds rows 4i..4i+3. Named fields,
// not arrays: arrays in function memory end up in slow scratch memory on
// lavapipe.
struct Strip {
    b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>,
}

struct Tile {
    s0: Strip, s1: Strip, s2: Strip, s3: Strip,
}

// xquad returns x rows m..m+3 at k = 4kk..4kk+3, one row per column.
fn xquad(m: u32, kk: u32) -> mat4x4<f32> {
    let k4 = params.k / 4u;
    let last = params.m - 1u;
    return mat4x4<f32>(x[min(m, last) * k4 + kk], x[min(m + 1u, last) * k4 + kk],
                       x[min(m + 2u, last) * k4 + kk], x[min(m + 3u, last) * k4 + kk]);
}

// madd returns a plus 4 rows of x times the strip of w: (wt * xq)[c][r] = dot(x row c, w row r).
fn madd(a: Strip, xq: mat4x4<f32>, wt: Strip) -> Strip {
    return Strip(a.b0 + wt.b0 * xq, a.b1 + wt.b1 * xq, a.b2 + wt.b2 * xq, a.b3 + wt.b3 * xq);
}

// step adds x rows m..m+15 times wt (4 k values) to the tile.
fn step(t: Tile, m: u32, kk: u32, wt: Strip) -> Tile {
    return Tile(madd(t.s0, xquad(m, kk), wt), madd(t.s1, xquad(m + 4u, kk), wt),
                madd(t.s2, xquad(m + 8u, kk), wt), madd(t.s3, xquad(m + 12u, kk), wt));
}

fn store_block(m: u32, n: u32, blk: mat4x4<f32>) {
    var b = blk; // a var, so that it can be indexed by c and r
    for (var c = 0u; c < 4u; c++) {
        for (var r = 0u; r < 4u; r++) {
            if (m + c < params.m && n + r < params.n) {
                y[(m + c) * params.n + n + r] = b[c][r];
            }
        }
    }
}

fn store_strip(m: u32, n: u32, s: Strip) {
    store_block(m, n, s.b0);
    store_block(m, n + 4u, s.b1);
    store_block(m, n + 8u, s.b2);
    store_block(m, n + 12u, s.b3);
}

fn store(m: u32, n: u32, t: Tile) {
    store_strip(m, n, t.s0);
    store_strip(m + 4u, n, t.s1);
    store_strip(m + 8u, n, t.s2);
    store_strip(m + 12u, n, t.s3);
}
