// grad_norm_partial: partials[w] = sum of g[i]^2 for
// w*chunk <= i < min((w+1)*chunk, n).
// First of two passes (then grad_norm_final.wgsl); together their twin is
// engine/ref.GradNorm with ref.ClipScale. Bindings: g (read), partials
// (read_write, one value per workgroup), Params.
// As sum_partial: no f32 atomics, so each workgroup tree-reduces its own
// chunk in workgroup memory; the host keeps chunk / WG (each invocation's
// loop trips) small, since lavapipe silently leaves a loop after 65535.

const WG: u32 = 256u;

struct Params {
    n: u32,     // number of gradients
    chunk: u32, // elements per workgroup, a multiple of WG
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let start = wid.x * params.chunk;
    if (start >= params.n) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let end = min(start + params.chunk, params.n);
    var s: f32 = 0.0;
    for (var i = start + lid; i < end; i += WG) {
        let x = g[i];
        s += x * x;
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[wid.x] = scratch[0];
    }
}
