// rope_bwd: the transpose of rope_fwd's rotation (the rotation by -angle),
//   angle = pos[b,t] * theta^(-2i/HS), i < HS/2,
//   dinp[x] (+)= dout[x]*cos(angle) + dout[y]*sin(angle),
//   dinp[y] (+)= dout[y]*cos(angle) - dout[x]*sin(angle),
// where (x, y) is pair i of head h at (b,t): (2i, 2i+1) when pairs = 0
// (interleaved), (i, i+HS/2) when pairs = 1 (half). dout and dinp are
// (B,T,NH,HS) row-major, HS even; pos is the forward's (B,T) u32 absolute
// positions. With accumulate the gradient is added to dinp, otherwise it
// replaces it.
// Twin: engine/ref.RopeBackward. Bindings: dout (read), pos (read), dinp
// (read_write), Params.
// One invocation per (b,t,h,i) pair, index = gid.y * row + gid.x over
// n = B*T*NH*HS/2 pairs; no loops. Frequency and angle are computed in f32
// exactly as rope_fwd.wgsl computes them.
// Include: rope_sincos.wgsl (sincos).

const WG: u32 = 256u;

struct Params {
    n: u32,          // number of pairs, B*T*NH*HS/2
    row: u32,        // invocations per grid row
    nh: u32,         // heads
    hs: u32,         // head size (even)
    pairs: u32,      // 0: (2i, 2i+1); 1: (i, i+HS/2)
    theta: f32,      // frequency base, e.g. 10000
    accumulate: u32, // 1: dinp += gradient, 0: dinp = gradient
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> dinp: array<f32>;
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

    let a = dout[x];
    let b = dout[y];
    var dx = a * c + b * s;
    var dy = b * c - a * s;
    if (params.accumulate != 0u) {
        dx += dinp[x];
        dy += dinp[y];
    }
    dinp[x] = dx;
    dinp[y] = dy;
}
