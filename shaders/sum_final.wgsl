// sum_final: out[0] = sum of partials[w] for w < count.
// Second of two passes (after sum_partial.wgsl); together their twin is
// engine/ref.Sum. Bindings: partials (read), out (read_write, one value),
// Params. Dispatched as a single workgroup; the host keeps count / WG (each
// invocation's loop trips) small.

const WG: u32 = 256u;

struct Params {
    count: u32, // number of partials
}

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    var s: f32 = 0.0;
    for (var i = lid; i < params.count; i += WG) {
        s += partials[i];
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
        out[0] = scratch[0];
    }
}
