// fma_peak: the adapter's peak f32 FMA rate, with no memory traffic. Each
// invocation runs 8 independent vec4 chains a = fma(a, mul, add) for
// params.iters steps (independent, so that FMA latency is hidden) and writes
// one value at the end, so that nothing can be optimized away.
// FLOPs = 2 * 4 * 8 * iters * invocations. No ref twin: a benchmark only
// (engine/ops peakBenches).
// Bindings: out (one f32 per invocation) read_write, Params.
// Grid: (invocations / 64, 1, 1). The loop runs params.iters (<= 4096) times.

const WG: u32 = 64u;

struct Params {
    iters: u32,
    mul: f32, // from the host, so that the chains cannot be folded
    add: f32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let mul = vec4<f32>(params.mul);
    let add = vec4<f32>(params.add);
    var a0 = vec4<f32>(f32(gid.x) * 1e-6) + vec4<f32>(0.0, 0.1, 0.2, 0.3);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    var a4 = a0 + 4.0;
    var a5 = a0 + 5.0;
    var a6 = a0 + 6.0;
    var a7 = a0 + 7.0;
    for (var i = 0u; i < params.iters; i++) {
        a0 = fma(a0, mul, add);
        a1 = fma(a1, mul, add);
        a2 = fma(a2, mul, add);
        a3 = fma(a3, mul, add);
        a4 = fma(a4, mul, add);
        a5 = fma(a5, mul, add);
        a6 = fma(a6, mul, add);
        a7 = fma(a7, mul, add);
    }
    let s = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
    out[gid.x] = s.x + s.y + s.z + s.w;
}
