// layernorm_bwd: dinp[r, c] (+)= s * (g[c] - mean over c' of g[c'] - n[c] * mean over c' of g[c'] * n[c']),
// g = dout[r, :] * weight, n[c] = (inp[r, c] - mean[r]) * s, s = rstd[r]
// (mean and rstd saved by layernorm_fwd.wgsl), for r < rows, c < cols.
// With accumulate the gradient is added to dinp, otherwise it replaces it.
// dout, inp and dinp are (rows, cols) row-major, e.g. (B*T, C), weight is
// (cols), mean and rstd are (rows).
// Twin: engine/ref.LayerNormBackward (its dinp; dweight and dbias are
// layernorm_dparams_bwd.wgsl then blocksum_final.wgsl).
// Bindings: dout (read), inp (read), weight (read), mean (read), rstd
// (read), dinp (read_write), Params.
// One workgroup per row; row = wid.y * num_workgroups.x + wid.x, so the grid
// may be 2-D when rows > 65535. Invocations stride over the row WG columns
// apart (the launcher bounds cols so each loop stays far below lavapipe's
// 65535-trip cut-off) and combine the row's sums by tree reductions in
// workgroup memory.
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    accumulate: u32, // 1: dinp += gradient, 0: dinp = gradient
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dinp: array<f32>;
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
    let m = mean[row];
    let s = rstd[row];

    var gs: f32 = 0.0;
    var gns: f32 = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        let g = dout[base + c] * weight[c];
        gs += g;
        gns += g * ((inp[base + c] - m) * s);
    }
    let gm = workgroup_sum(lid, gs) / f32(params.cols);
    let gnm = workgroup_sum(lid, gns) / f32(params.cols);

    for (var c = lid; c < params.cols; c += WG) {
        let n = (inp[base + c] - m) * s;
        var d = s * (dout[base + c] * weight[c] - gm - n * gnm);
        if (params.accumulate != 0u) {
            d += dinp[base + c];
        }
        dinp[base + c] = d;
    }
}
