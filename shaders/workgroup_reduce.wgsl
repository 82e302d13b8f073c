// workgroup_reduce: a shared snippet (no bindings, no entry point) that Go
// prepends to kernels reducing one row per workgroup (softmax_fwd,
// rmsnorm_fwd, layernorm_fwd, attention_fwd). It uses the kernel's const
// WG, the workgroup size, which must be a power of two.

var<workgroup> scratch: array<f32, WG>;

// workgroup_max returns the max of v over the workgroup to every invocation.
fn workgroup_max(lid: u32, v: f32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            scratch[lid] = max(scratch[lid], scratch[lid + s]);
        }
        workgroupBarrier();
    }
    let m = scratch[0];
    workgroupBarrier(); // all have read scratch[0] before it is reused
    return m;
}

// workgroup_sum returns the sum of v over the workgroup to every invocation.
// Its barriers also publish the workgroup's earlier writes to workgroup memory.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            scratch[lid] += scratch[lid + s];
        }
        workgroupBarrier();
    }
    let t = scratch[0];
    workgroupBarrier(); // all have read scratch[0] before it is reused
    return t;
}
