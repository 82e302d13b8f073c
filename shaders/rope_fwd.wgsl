// rope_fwd: rotary position embeddings of queries or keys,
//   angle = pos[b,t] * theta^(-2i/HS), i < HS/2,
//   out[x] = inp[x]*cos(angle) - inp[y]*sin(angle),
//   out[y] = inp[x]*sin(angle) + inp[y]*cos(angle),
// where (x, y) is pair i of head h at (b,t): (2i, 2i+1) when pairs = 0
// (interleaved), (i, i+HS/2) when pairs = 1 (half). inp and out are
// (B,T,NH,HS) row-major, HS even; pos is (B,T) u32 absolute positions.
// Twin: engine/ref.RopeForward. Bindings: inp (read), pos (read), out
// (read_write), Params.
// One invocation per (b,t,h,i) pair, index = gid.y * row + gid.x over
// n = B*T*NH*HS/2 pairs; no loops. The frequency is computed here in f32.
// sin and cos come from rope_sincos.wgsl (about 1 ulp; WGSL's builtins are
// only bound to 2^-11 absolute, and SwiftShader's are that coarse).
// Include: rope_sincos.wgsl (sincos).

const WG: u32 = 256u;

struct Params {
    n: u32,     // number of pairs, B*T*NH*HS/2
    row: u32,   // invocations per grid row
    nh: u32,    // heads
    hs: u32,    // head size (even)
    pairs: u32, // 0: (2i, 2i+1); 1: (i, i+HS/2)
    theta: f32, // frequency base, e.g. 10000
}

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.y * params.row + gid.x;
    if (idx >= params.n) {
        return;
    }
    let half = params.hs / 2u;
    let i = idx % half;
    let bth = idx / half; // (b*T + t)*NH + h
    let bt = bth / params.nh;
    let base = bth * params.hs;
    var x = base + 2u * i;
    var y = x + 1u;
    if (params.pairs == 1u) {
        x = base + i;
        y = x + half;
    }

    let freq = exp2(-f32(2u * i) / f32(params.hs) * log2(params.theta));
    let angle = f32(pos[bt]) * freq;
    let sc = sincos(angle);
    let s = sc.x;
    let c = sc.y;

    let a = inp[x];
    let b = inp[y];
    out[x] = a * c - b * s;
    out[y] = a * s + b * c;
}
