// layernorm_fwd: out[r, c] = (inp[r, c] - mean[r]) * rstd[r] * weight[c] + bias[c],
// mean[r] = mean over c of inp[r, c],
// rstd[r] = 1 / sqrt(mean over c of (inp[r, c] - mean[r])^2 + eps),
// for r < rows, c < cols; inp and out are (rows, cols) row-major, e.g.
// (B*T, C), weight and bias are (cols), mean and rstd are (rows) and are
// kept for the backward pass. The variance is the biased one, taken in a
// second pass over the row (no E[x^2] - E[x]^2 cancellation).
// Twin: engine/ref.LayerNormForward. Bindings: inp (read), weight (read),
// bias (read), out (read_write), mean (read_write), rstd (read_write), Params.
// One workgroup per row; row = wid.y * num_workgroups.x + wid.x, so the grid
// may be 2-D when rows > 65535. Invocations stride over the row WG columns
// apart (the launcher bounds cols so each loop stays far below lavapipe's
// 65535-trip cut-off) and combine the sums by tree reductions in workgroup
// memory.
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let base = row * params.cols;
    let n = f32(params.cols);

    var sum: f32 = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        sum += inp[base + c];
    }
    let m = workgroup_sum(lid, sum) / n;

    var sq: f32 = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        let d = inp[base + c] - m;
        sq += d * d;
    }
    // 1/sqrt rather than inverseSqrt, whose WGSL accuracy is looser.
    let s = 1.0 / sqrt(workgroup_sum(lid, sq) / n + params.eps);

    for (var c = lid; c < params.cols; c += WG) {
        out[base + c] = (inp[base + c] - m) * s * weight[c] + bias[c];
    }
    if (lid == 0u) {
        mean[row] = m;
        rstd[row] = s;
    }
}
