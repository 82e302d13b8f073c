// rb_acc_tile: a shared snippet (no bindings, no entry point) that Go
// prepends to the register-blocked kernels that read or decode both
// operands themselves (gemm_rb, matmul_quant_rb_bwd, matmul_raw_rb_bwd): a
// 16x16 output tile kept in registers, its update 4 reduction indices at a
// time, its combination with what the output held, and its store. The
// layout is rb_tile.wgsl's (the forward matmuls').
// It calls the kernel's a_quad(m, k) (4 rows of the left operand at 4
// indices, one row per column), old(row, col) (the output's value, indices
// clamped to it) and put(row, col, value) (a store that checks bounds),
// and uses its const TILE (16).
// All of the output's reads come before its writes: interleaving them
// (reading and writing each value in turn) made lavapipe's compile 8x slower.

// Strip is four 4x4 blocks. In a Tile: 4 rows x 16 columns of the output,
// b<j>[c][r] = row c, column 4j+r. As step's left operand: 16 rows x 4
// reduction indices, b<i>[c][j] = row 4i+c, index j (one row per column).
// As its right operand: 4 indices x 16 columns, b<j>[i][r] = index i,
// column 4j+r (one index per column). Named fields, not arrays: arrays in
// function memory end up in slow scratch memory on lavapipe.
struct Strip {
    b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>,
}

// Tile is 16x16 outputs: strip i holds rows 4i..4i+3.
struct Tile {
    s0: Strip, s1: Strip, s2: Strip, s3: Strip,
}

// madd returns acc plus 4 output rows (a, one row per column, 4 indices)
// times b: (b.b<j> * a)[c][r] = sum over i of a[c][i] * b.b<j>[i][r].
fn madd(acc: Strip, a: mat4x4<f32>, b: Strip) -> Strip {
    return Strip(acc.b0 + b.b0 * a, acc.b1 + b.b1 * a, acc.b2 + b.b2 * a, acc.b3 + b.b3 * a);
}

// step adds the left operand's rows m..m+15 at reduction indices k..k+3
// (read by the kernel's a_quad(m, k), 4 rows at a time, one row per
// column) times b (indices k..k+3 x 16 columns) to t. Reading a 4 rows at
// a time, between the products, keeps fewer values live than reading all
// 16 first.
fn step(t: Tile, m: u32, k: u32, b: Strip) -> Tile {
    return Tile(madd(t.s0, a_quad(m, k), b), madd(t.s1, a_quad(m + 4u, k), b),
                madd(t.s2, a_quad(m + 8u, k), b), madd(t.s3, a_quad(m + 12u, k), b));
}

// old_block returns the output at rows m..m+3, columns n..n+3, one row
// per column (as a Strip's blocks).
fn old_block(m: u32, n: u32) -> mat4x4<f32> {
    return mat4x4<f32>(
        vec4<f32>(old(m, n), old(m, n + 1u), old(m, n + 2u), old(m, n + 3u)),
        vec4<f32>(old(m + 1u, n), old(m + 1u, n + 1u), old(m + 1u, n + 2u), old(m + 1u, n + 3u)),
        vec4<f32>(old(m + 2u, n), old(m + 2u, n + 1u), old(m + 2u, n + 2u), old(m + 2u, n + 3u)),
        vec4<f32>(old(m + 3u, n), old(m + 3u, n + 1u), old(m + 3u, n + 2u), old(m + 3u, n + 3u)));
}

fn old_strip(m: u32, n: u32) -> Strip {
    return Strip(old_block(m, n), old_block(m, n + 4u), old_block(m, n + 8u), old_block(m, n + 12u));
}

fn axpy_strip(s: Strip, beta: f32, o: Strip) -> Strip {
    return Strip(s.b0 + beta * o.b0, s.b1 + beta * o.b1, s.b2 + beta * o.b2, s.b3 + beta * o.b3);
}

// axpby returns alpha * t plus beta times the output's values at rows
// m.., columns n.. (of rows rows: strips past them are left alpha * t).
// A loop whose bound depends on rows, so that the compiler does not unroll
// it: the strip's 64 reads compile once, not four times.
fn axpby(alpha: f32, t: Tile, beta: f32, m: u32, n: u32, rows: u32) -> Tile {
    var r = scale(alpha, t);
    for (var i = 0u; m + 4u * i < min(m + TILE, rows); i++) {
        let o = old_strip(m + 4u * i, n);
        switch i {
            case 0u: { r.s0 = axpy_strip(r.s0, beta, o); }
            case 1u: { r.s1 = axpy_strip(r.s1, beta, o); }
            case 2u: { r.s2 = axpy_strip(r.s2, beta, o); }
            default: { r.s3 = axpy_strip(r.s3, beta, o); }
        }
    }
    return r;
}

fn scale_strip(alpha: f32, s: Strip) -> Strip {
    return Strip(alpha * s.b0, alpha * s.b1, alpha * s.b2, alpha * s.b3);
}

// scale returns alpha * t.
fn scale(alpha: f32, t: Tile) -> Tile {
    return Tile(scale_strip(alpha, t.s0), scale_strip(alpha, t.s1), scale_strip(alpha, t.s2), scale_strip(alpha, t.s3));
}

fn store_block(m: u32, n: u32, blk: mat4x4<f32>) {
    var b = blk; // a var, so that it can be indexed by c and r
    for (var c = 0u; c < 4u; c++) {
        for (var r = 0u; r < 4u; r++) {
            put(m + c, n + r, b[c][r]);
        }
    }
}

fn store_strip(m: u32, n: u32, s: Strip) {
    store_block(m, n, s.b0);
    store_block(m, n + 4u, s.b1);
    store_block(m, n + 8u, s.b2);
    store_block(m, n + 12u, s.b3);
}

// store hands every value of the tile at rows m.., columns n.. to put.
fn store(m: u32, n: u32, t: Tile) {
    store_strip(m, n, t.s0);
    store_strip(m + 4u, n, t.s1);
    store_strip(m + 8u, n, t.s2);
    store_strip(m + 12u, n, t.s3);
}
