// spin: a deliberately long kernel for the long-dispatch test.
// Each invocation runs params.steps steps of the LCG
// x = x * 1664525 + 1013904223 (exact in u32, so Go can check it), seeded
// with its index; the dispatch is made long by its number of invocations.
// lavapipe silently leaves a loop once its body has run 65535 times in one
// invocation, counted over all entries to the loop (nested loops too), so
// the host keeps params.steps below that.

const WG: u32 = 64u;

struct Params {
    n: u32,
    steps: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.n) {
        return;
    }
    var x = i;
    for (var s = 0u; s < params.steps; s++) {
        x = x * 1664525u + 1013904223u;
    }
    out[i] = x;
}
