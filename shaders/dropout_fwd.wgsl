// dropout_fwd: out[i] = inp[i] * scale when dropout_hash(seed, i) >= threshold,
// else 0, for i < n (inverted dropout: threshold = floor(p * 2^32) and
// scale = f32(1 / (1 - p)) for a drop probability p, set by the host).
// Twin: engine/ref.DropoutForward (bit for bit). Bindings: inp (read),
// out (read_write), Params.
// The grid may be 2-D when n needs more than 65535 workgroups: row y covers
// elements [y*params.row, (y+1)*params.row).
// Include: dropout_hash.wgsl (dropout_hash).

const WG: u32 = 256u;

struct Params {
    n: u32,         // number of elements
    row: u32,       // elements per grid row: WG * number of workgroups in x
    seed: u32,
    threshold: u32, // keep when the hash is >= threshold
    scale: f32,     // 1 / (1 - p)
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
    let keep = dropout_hash(params.seed, i) >= params.threshold;
    out[i] = select(0.0, inp[i] * params.scale, keep);
}
