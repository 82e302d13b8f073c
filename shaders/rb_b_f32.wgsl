// rb_b_f32: a shared snippet (no bindings, no entry point), the twin of
// rb_b_vec4.wgsl for matrices whose rows are not a multiple of 4 long:
// b_block through the kernel's f32 binding b1, four loads per row.

// b_block returns rows r..r+3 of b (rows, cols) at columns q..q+3, one
// row per column; entries past the matrix read as 0.
fn b_block(r: u32, q: u32, rows: u32, cols: u32) -> mat4x4<f32> {
    let lane = vec4<u32>(0u, 1u, 2u, 3u);
    let keep = vec4<u32>(r) + lane < vec4<u32>(rows);
    let inside = vec4<u32>(q) + lane < vec4<u32>(cols);
    let i = min(vec4<u32>(r) + lane, vec4<u32>(rows - 1u)) * cols;
    let j = min(vec4<u32>(q) + lane, vec4<u32>(cols - 1u));
    let z = vec4<f32>(0.0);
    return mat4x4<f32>(select(z, vec4<f32>(b1[i.x + j.x], b1[i.x + j.y], b1[i.x + j.z], b1[i.x + j.w]), inside & vec4<bool>(keep.x)),
                       select(z, vec4<f32>(b1[i.y + j.x], b1[i.y + j.y], b1[i.y + j.z], b1[i.y + j.w]), inside & vec4<bool>(keep.y)),
                       select(z, vec4<f32>(b1[i.z + j.x], b1[i.z + j.y], b1[i.z + j.z], b1[i.z + j.w]), inside & vec4<bool>(keep.z)),
                       select(z, vec4<f32>(b1[i.w + j.x], b1[i.w + j.y], b1[i.w + j.z], b1[i.w + j.w]), inside & vec4<bool>(keep.w)));
}
