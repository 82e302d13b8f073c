// rb_a_vec4: a shared snippet (no bindings, no entry point) that Go
// prepends to the register-blocked kernels that read their a operand as
// a row-major f32 matrix (gemm_rb, and as dY the dX kernels matmul_quant_rb_bwd
// and matmul_raw_rb_bwd): a_block through the kernel's vec4 binding a4,
// for matrices whose rows are a multiple of 4 long. Its twin for other
// matrices is rb_a_f32.wgsl; a kernel is built with one or the other, so
// that its hot loop has no branch (a uniform branch there halved
// lavapipe's speed).

// a_block returns rows r..r+3 of a (rows, cols), cols % 4 == 0, at
// columns q..q+3 (q % 4 == 0), one row per column. Rows past the last read
// as 0 (past K they must add nothing); a column quad past the last is
// clamped to it (that happens only along M or N, whose outputs past the
// end are never stored).
fn a_block(r: u32, q: u32, rows: u32, cols: u32) -> mat4x4<f32> {
    let last = rows - 1u;
    let keep = vec4<u32>(r) + vec4<u32>(0u, 1u, 2u, 3u) <= vec4<u32>(last);
    let z = vec4<f32>(0.0);
    let w = cols / 4u;
    let c = min(q, cols - 4u) / 4u;
    return mat4x4<f32>(select(z, a4[min(r, last) * w + c], keep.x), select(z, a4[min(r + 1u, last) * w + c], keep.y),
                       select(z, a4[min(r + 2u, last) * w + c], keep.z), select(z, a4[min(r + 3u, last) * w + c], keep.w));
}
