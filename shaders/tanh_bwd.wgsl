// tanh_bwd: dinp[i] (+)= dout[i] * (1 - tanh(inp[i])^2) for i < n; inp is
// the forward's input (tanh is recomputed rather than kept). With
// accumulate the gradient is added to dinp, otherwise it replaces it.
// Needs the snippet tanh_safe.wgsl.
// Twin: engine/ref.TanhBackward. Bindings: inp (read), dout (read),
// dinp (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,          // number of elements
    row: u32,        // elements per grid row: WG * number of workgroups in x
    accumulate: u32, // 1: dinp += gradient, 0: dinp = gradient
}

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    let y = tanh_safe(inp[i]);
    var g = dout[i] * (1.0 - y * y);
    if (params.accumulate != 0u) {
        g += dinp[i];
    }
    dinp[i] = g;
}
