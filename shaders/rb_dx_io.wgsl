// rb_dx_io: a shared snippet (no bindings, no entry point) that Go
// prepends, after rb_acc_tile.wgsl and rb_a_vec4.wgsl or rb_a_f32.wgsl,
// to the dX kernels of the frozen-weight backward pass
// (matmul_quant_rb_bwd, matmul_raw_rb_bwd): how they read dY (M, N),
// their left operand a, and read and write dX (M, K). It reads the
// kernel's dx and params (m = M, n = N, k = K).

// a_quad returns dy rows m..m+3 at n..n+3, one row per column (rb_acc_tile's step).
fn a_quad(m: u32, n: u32) -> mat4x4<f32> {
    return a_block(m, n, params.m, params.n);
}

// old returns dx[m][k], clamped to dx (rb_acc_tile's axpby).
fn old(m: u32, k: u32) -> f32 {
    return dx[min(m, params.m - 1u) * params.k + min(k, params.k - 1u)];
}

// put stores dx[m][k] = v inside dx (rb_acc_tile's store).
fn put(m: u32, k: u32, v: f32) {
    if (m < params.m && k < params.k) {
        dx[m * params.k + k] = v;
    }
}
