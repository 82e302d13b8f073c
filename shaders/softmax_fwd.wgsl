// softmax_fwd: out[r, c] = exp(x[r, c] - m_r) / sum_c' exp(x[r, c'] - m_r),
// m_r = max_c x[r, c], for r < rows, c < cols; x and out are (rows, cols)
// row-major, e.g. logits (B*T, V).
// Twin: engine/ref.Softmax. Bindings: x (read), out (read_write), Params.
// One workgroup per row; row = wid.y * num_workgroups.x + wid.x, so the grid
// may be 2-D when rows > 65535. Invocations stride over the row WG columns
// apart (a 152k-column row is ~600 trips per loop: lavapipe silently leaves
// a loop after 65535) and combine max and sum by tree reductions in
// workgroup memory. Subtracting m_r keeps every exp in (0, 1].
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let base = row * params.cols;

    // Start from a value of the row itself, which cannot change the max (no
    // -FLT_MAX sentinel: Tint rejects -3.40282347e+38 as outside f32).
    var m = x[base + min(lid, params.cols - 1u)];
    for (var c = lid; c < params.cols; c += WG) {
        m = max(m, x[base + c]);
    }
    m = workgroup_max(lid, m);

    var s: f32 = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        s += exp(x[base + c] - m);
    }
    s = workgroup_sum(lid, s);

    for (var c = lid; c < params.cols; c += WG) {
        out[base + c] = exp(x[base + c] - m) / s;
    }
}
