// split_blocks_bwd: split_blocks_fwd's backward pass, gathering each
// block's gradient back into the row-major (rows, G*W) layout:
//     dinp[r*G*W + g*W + w] (+)= dout[g*stride + r*W + w]
// One invocation per element of dinp, i < n = rows*G*W. With accumulate
// the gradient is added to dinp, otherwise it replaces it.
// Twin: engine/ref.SplitBlocksBackward. Bindings: dout (read), dinp
// (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,          // rows * groups * width
    row: u32,        // elements per grid row: WG * number of workgroups in x
    groups: u32,     // G
    width: u32,      // W
    stride: u32,     // floats from one block to the next, >= rows * W
    accumulate: u32, // 1: dinp += gradient, 0: dinp = gradient
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    let cols = params.groups * params.width;
    let r = i / cols;
    let g = (i % cols) / params.width;
    let w = i % params.width;
    var v = dout[g * params.stride + r * params.width + w];
    if (params.accumulate != 0u) {
        v += dinp[i];
    }
    dinp[i] = v;
}
