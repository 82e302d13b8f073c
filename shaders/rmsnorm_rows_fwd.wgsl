// rmsnorm_rows_fwd: rmsnorm_fwd with one invocation per row instead of one
// workgroup per row: out[r, c] = inp[r, c] * rstd[r] * weight[c],
// rstd[r] = 1 / sqrt(mean over c of inp[r, c]^2 + eps), for r < rows,
// c < cols; inp and out are (rows, cols) row-major, e.g. (B*T, C), weight
// is (cols), rstd is (rows) and is kept for the backward pass.
// Twin: engine/ref.RMSNormForward. Bindings: inp (read), weight (read),
// out (read_write), rstd (read_write), Params.
// The variant for CPU adapters (lavapipe, SwiftShader), where the other's
// tree reduction costs a barrier, i.e. a switch between every invocation's
// stack, per level, and a row of C = 576 leaves most of 256 invocations
// idle. Here no invocation waits on another; each walks its row twice.
// row = gid.y * params.row_len + gid.x, so the grid may be 2-D. The host
// bounds cols so the 2*cols loop trips stay far below lavapipe's 65535.

const WG: u32 = 32u;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    row_len: u32, // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y * params.row_len + gid.x;
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var ss: f32 = 0.0;
    for (var c = 0u; c < params.cols; c++) {
        let v = inp[base + c];
        ss += v * v;
    }
    // 1/sqrt rather than inverseSqrt, whose WGSL accuracy is looser.
    let s = 1.0 / sqrt(ss / f32(params.cols) + params.eps);
    for (var c = 0u; c < params.cols; c++) {
        out[base + c] = inp[base + c] * s * weight[c];
    }
    rstd[row] = s;
}
