// swiglu_fwd: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)),
// for i < n; gate, up and out are e.g. (B*T, FFN).
// Twin: engine/ref.SwiGLUForward. Bindings: gate (read), up (read),
// out (read_write), Params.
// The exponent is clamped to [-80, 80] so exp never overflows (beyond it
// silu(g) is g or a zero of g's sign to far better than f32 precision).
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,   // number of elements
    row: u32, // elements per grid row: WG * number of workgroups in x
}

@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    let g = gate[i];
    out[i] = g / (1.0 + exp(clamp(-g, -80.0, 80.0))) * up[i];
}
