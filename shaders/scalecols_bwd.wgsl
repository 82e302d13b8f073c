// scalecols_bwd: dinp[r, c] (+)= dout[r, c] * s[c] for r < rows, c < cols:
// the input gradient of scalecols_fwd.wgsl; dout and dinp are (rows, cols)
// row-major, s is (cols). Element i = r*cols + c, for i < n = rows*cols.
// With accumulate the gradient is added to dinp, otherwise it replaces it.
// Twin: engine/ref.ScaleColsBackward (its dinp; ds is scalecols_ds_bwd.wgsl
// then blocksum_final.wgsl). Bindings: dout (read), s (read), dinp
// (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,          // number of elements, rows * cols
    row: u32,        // elements per grid row: WG * number of workgroups in x
    cols: u32,
    accumulate: u32, // 1: dinp += gradient, 0: dinp = gradient
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    var g = dout[i] * s[i % params.cols];
    if (params.accumulate != 0u) {
        g += dinp[i];
    }
    dinp[i] = g;
}
