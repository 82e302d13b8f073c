// swiglu_bwd: with sig = 1 / (1 + exp(-g)), g = gate[i], for i < n:
//   dgate[i] (+)= dout[i] * up[i] * sig * (1 + g * (1 - sig))
//   dup[i]   (+)= dout[i] * g * sig          (silu(g))
// gate and up are the forward's inputs; all five buffers are e.g.
// (B*T, FFN). With accumulate the gradients are added to dgate and dup,
// otherwise they replace them.
// Twin: engine/ref.SwiGLUBackward. Bindings: gate (read), up (read),
// dout (read), dgate (read_write), dup (read_write), Params.
// 1 - sig is computed as e * sig, e = exp(-g), with no cancellation; the
// exponent is clamped to [-80, 80] so exp never overflows (as in
// swiglu_fwd.wgsl).
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    n: u32,          // number of elements
    row: u32,        // elements per grid row: WG * number of workgroups in x
    accumulate: u32, // 1: gradients +=, 0: gradients =
}

@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(4) var<storage, read_write> dup: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.n) {
        return;
    }
    let g = gate[i];
    let d = dout[i];
    let e = exp(clamp(-g, -80.0, 80.0));
    let sig = 1.0 / (1.0 + e);
    var dg = d * up[i] * sig * (1.0 + g * (e * sig));
    var du = d * g * sig;
    if (params.accumulate != 0u) {
        dg += dgate[i];
        du += dup[i];
    }
    dgate[i] = dg;
    dup[i] = du;
}
