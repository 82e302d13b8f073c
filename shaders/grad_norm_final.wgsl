// grad_norm_final: the global gradient norm and its clip factor
// (torch.nn.utils.clip_grad_norm_):
//   norm   = sqrt(sum of partials[w] for w < count)
//   out[0] = min(1, max_norm / (norm + 1e-6)), or 1 when max_norm <= 0
//   out[1] = norm (for logging)
// Second of two passes (after grad_norm_partial.wgsl); together their twin
// is engine/ref.GradNorm with ref.ClipScale. Bindings: partials (read), out
// (read_write, two values: adamw_step.wgsl reads out[0] as its scale),
// Params. Dispatched as a single workgroup; the host keeps count / WG (each
// invocation's loop trips) small.

const WG: u32 = 256u;

struct Params {
    count: u32,     // number of partials
    max_norm: f32,  // clip threshold; <= 0: no clipping
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
        let norm = sqrt(scratch[0]);
        var clip: f32 = 1.0;
        if (params.max_norm > 0.0) {
            clip = min(1.0, params.max_norm / (norm + 1e-6));
        }
        out[0] = clip;
        out[1] = norm;
    }
}
