// gelu_fwd: out[i] = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))),
// x = inp[i], for i < n (GELU, tanh form: gpt2's "gelu_new").
// Twin: engine/ref.GeluForward. Bindings: inp (read), out (read_write), Params.
// Computed as x * sigmoid(2u) = x / (1 + exp(-2u)), u the tanh argument,
// which is the same function (0.5 * (1 + tanh(u)) = sigmoid(2u)) without
// WGSL's tanh, whose accuracy for large |u| varies between adapters, and
// without the cancellation of 1 + tanh(u) for negative x. The exponent is
// clamped to [-80, 80] so exp never overflows (beyond it the result is x
// or a zero of x's sign to far better than f32 precision).
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

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
    let x = inp[i];
    let u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
    out[i] = x / (1.0 + exp(clamp(-2.0 * u, -80.0, 80.0)));
}
