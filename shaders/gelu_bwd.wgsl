// gelu_bwd: dinp[i] (+)= dout[i] * (0.5 * (1 + tanh(u)) + 0.5 * x * (1 - tanh(u)^2) * du/dx),
// u = sqrt(2/pi) * (x + 0.044715 * x^3), du/dx = sqrt(2/pi) * (1 + 3 * 0.044715 * x^2),
// x = inp[i] (the forward's input), for i < n (GELU, tanh form). With
// accumulate the gradient is added to dinp, otherwise it replaces it.
// Twin: engine/ref.GeluBackward. Bindings: inp (read), dout (read),
// dinp (read_write), Params.
// As in gelu_fwd.wgsl, no tanh: with sig = sigmoid(2u) = 1 / (1 + e),
// e = exp(-2u), 0.5 * (1 + tanh(u)) = sig and 0.5 * (1 - tanh(u)^2) =
// 2 * sig * (1 - sig), where 1 - sig = e * sig has no cancellation. The
// exponent is clamped to [-80, 80] so exp never overflows.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

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
    let x = inp[i];
    let x2 = x * x;
    let u = SQRT_2_OVER_PI * (x + 0.044715 * x2 * x);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x2);
    let e = exp(clamp(-2.0 * u, -80.0, 80.0));
    let sig = 1.0 / (1.0 + e);
    var g = dout[i] * (sig + 2.0 * x * du * (sig * (e * sig)));
    if (params.accumulate != 0u) {
        g += dinp[i];
    }
    dinp[i] = g;
}
