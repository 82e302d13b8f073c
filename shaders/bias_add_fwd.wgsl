// bias_add_fwd: y[r*cols + c] += bias[c] for r < rows, c < cols, in place;
// y is (rows, cols) row-major, e.g. a linear layer's output (B*T, OC).
// Twin: the bias loop of engine/ref.LinearForward (ref.Add on each row).
// Bindings: bias (cols, read), y (rows*cols, read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,    // rows * cols
    cols: u32,
    row: u32,  // elements per grid row: WG * number of workgroups in x
}

@group(0) @binding(0) var<storage, read> bias: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    y[i] += bias[i % params.cols];
}
