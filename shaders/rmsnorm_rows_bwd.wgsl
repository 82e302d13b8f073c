// rmsnorm_rows_bwd: rmsnorm_bwd with one invocation per row instead of one
// workgroup per row:
//   dinp[r, c] (+)= s * g[c] - s^3 * x[c] * (sum over c' of g[c'] * x[c']) / cols,
// g = dout[r, :] * weight, x = inp[r, :], s = rstd[r] (saved by the
// forward), for r < rows, c < cols. With accumulate the gradient is added
// to dinp, otherwise it replaces it. dout, inp and dinp are (rows, cols)
// row-major, e.g. (B*T, C), weight is (cols), rstd is (rows).
// Twin: engine/ref.RMSNormBackward (its dinp). Bindings: dout (read),
// inp (read), weight (read), rstd (read), dinp (read_write), Params.
// The variant for CPU adapters (see rmsnorm_rows_fwd.wgsl): no barriers,
// each invocation walks its row twice. row = gid.y * params.row_len +
// gid.x, so the grid may be 2-D. The host bounds cols so the 2*cols loop
// trips stay far below lavapipe's 65535.

const WG: u32 = 32u;

struct Params {
    rows: u32,
    cols: u32,
    accumulate: u32, // 1: dinp += gradient, 0: dinp = gradient
    row_len: u32,    // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y * params.row_len + gid.x;
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var gx: f32 = 0.0;
    for (var c = 0u; c < params.cols; c++) {
        gx += dout[base + c] * weight[c] * inp[base + c];
    }
    let s = rstd[row];
    let k = s * s * s * gx / f32(params.cols);
    for (var c = 0u; c < params.cols; c++) {
        var d = s * dout[base + c] * weight[c] - k * inp[base + c];
        if (params.accumulate != 0u) {
            d += dinp[base + c];
        }
        dinp[base + c] = d;
    }
}
