// dropout_bwd: dinp[i] (+)= dout[i] * scale when dropout_hash(seed, i) >= threshold,
// else 0, for i < n: dropout_fwd.wgsl's mask and scale (the same seed,
// threshold and scale) applied to the gradient. With accumulate the
// gradient is added to dinp, otherwise it replaces it.
// Twin: engine/ref.DropoutBackward. Bindings: dout (read), dinp
// (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).
// Include: dropout_hash.wgsl (dropout_hash).

const WG: u32 = 256u;

struct Params {
    n: u32,          // number of elements
    row: u32,        // elements per grid row: WG * number of workgroups in x
    seed: u32,
    threshold: u32,  // keep when the hash is >= threshold
    scale: f32,      // 1 / (1 - p)
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
    let keep = dropout_hash(params.seed, i) >= params.threshold;
    var g = select(0.0, dout[i] * params.scale, keep);
    if (params.accumulate != 0u) {
        g += dinp[i];
    }
    dinp[i] = g;
}
