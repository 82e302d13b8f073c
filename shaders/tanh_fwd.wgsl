// tanh_fwd: out[i] = tanh(inp[i]) for i < n (the nonlinearity of prefix
// tuning's reparameterisation MLP).
// Needs the snippet tanh_safe.wgsl.
// Twin: engine/ref.TanhForward. Bindings: inp (read), out (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,   // number of elements
    row: u32, // elements per grid row: WG * number of workgroups in x
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
    out[i] = tanh_safe(inp[i]);
}
