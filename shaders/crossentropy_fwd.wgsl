// crossentropy_fwd: losses[r] = logsumexp(logits[r, :]) - logits[r, t_r]
// for r < rows with t_r = targets[r] < cols, computed as
// log(sum_c exp(logits[r, c] - m_r)) + (m_r - logits[r, t_r]), m_r = the
// row max; losses[r] = 0 for a masked row (t_r = 0xFFFFFFFF, i.e. -1, or
// any id >= cols, which the host refuses: engine/ops.NewTargets).
// logits are (rows, cols) row-major, e.g. (B*T, V).
// Twin: engine/ref.CrossEntropyForward. Bindings: logits (read), targets
// (rows u32, read), losses (rows, read_write), Params.
// One workgroup per row; row = wid.y * num_workgroups.x + wid.x, so the grid
// may be 2-D when rows > 65535. Invocations stride over the row WG columns
// apart (a 152k-column row is ~600 trips per loop: lavapipe silently leaves
// a loop after 65535) and combine max and sum in workgroup memory.
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let base = row * params.cols;

    // Start from a value of the row itself (no -FLT_MAX sentinel: Tint
    // rejects -3.40282347e+38 as outside f32).
    var m = logits[base + min(lid, params.cols - 1u)];
    for (var c = lid; c < params.cols; c += WG) {
        m = max(m, logits[base + c]);
    }
    m = workgroup_max(lid, m);

    var s: f32 = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        s += exp(logits[base + c] - m);
    }
    s = workgroup_sum(lid, s);

    if (lid == 0u) {
        let t = targets[row];
        let masked = t >= params.cols;
        let xt = logits[base + min(t, params.cols - 1u)];
        losses[row] = select(log(s) + (m - xt), 0.0, masked);
    }
}
