// split_blocks_fwd: regroups the columns of a row-major (rows, G*W) matrix
// into G blocks of (rows, W), block g starting at out[g*stride]:
//     out[g*stride + r*W + w] = inp[r*G*W + g*W + w]
// (prefix tuning's MLP output (P, L*2*KV) -> one (P, KV) block per layer's
// keys or values, each block aligned for binding). One invocation per
// input element, i < n = rows*G*W.
// Twin: engine/ref.SplitBlocksForward. Bindings: inp (read), out
// (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,      // rows * groups * width
    row: u32,    // elements per grid row: WG * number of workgroups in x
    groups: u32, // G
    width: u32,  // W
    stride: u32, // floats from one block to the next, >= rows * W
}

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
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
    out[g * params.stride + r * params.width + w] = inp[i];
}
