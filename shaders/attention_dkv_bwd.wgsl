// attention_dkv_bwd: second pass of attention's backward (after
// attention_dq_bwd.wgsl, which wrote delta). For key row (b,g,s) and the
// query rows that see it, t >= s-P (all t for a prefix slot s < P), of the
// NH/NKV query heads h of group g:
//   p      = exp(q[b,t,h,:] . k[b,s,g,:] / sqrt(HS) - lse[b,h,t])
//   ds     = p * (dout[b,t,h,:] . v[b,s,g,:] - delta[b,h,t]) / sqrt(HS)
//   dk[b,s,g,:] = sum over (h,t) of ds * q[b,t,h,:]
//   dv[b,s,g,:] = sum over (h,t) of p * dout[b,t,h,:]
// Every one of the S slots is written (=, not +=); a slot no query sees
// gets 0. dout and q are (B,T,NH,HS); k, v, dk and dv are (B,S,NKV,HS);
// lse and delta are (B,NH,T).
// Twin: engine/ref.AttentionBackward (dk, dv). Bindings: dout, q, k, v,
// lse, delta (read), dk, dv (read_write), Params.
// One workgroup per key row; row = wid.y * num_workgroups.x + wid.x =
// (b*NKV + g)*S + s, so the grid may be 2-D. The (h,t) pairs go in tiles of
// WG: each invocation recomputes p and ds of one pair into workgroup
// memory, then the workgroup, split into WG/HS parts of HS invocations
// (part j takes pairs j, j + WG/HS, ... of the tile, invocation i of a part
// dimension i), adds ds * q[t,h,i] and p * dout[t,h,i]; the parts are
// summed at the end. No atomics: each workgroup owns its key row. Per
// invocation the loops run about ceil(NH/NKV*T/WG)*(HS+ceil(WG/(WG/HS))+1)
// + WG/HS + 2 trips in all; the host (engine/ops attnBwdTrips) keeps that
// well under lavapipe's 65535.

const WG: u32 = 256u;
const MAXHS: u32 = 256u; // largest head size (<= WG)

struct Params {
    t: u32,     // T, queries per sequence
    nh: u32,    // NH, query heads
    nkv: u32,   // NKV, key/value heads
    hs: u32,    // HS, head size
    rows: u32,  // B*NKV*S, one per workgroup
    scale: f32, // 1/sqrt(HS)
    s: u32,     // S, keys per sequence in k and v
    pos0: u32,  // P, position of query 0
}

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> ks: array<f32, MAXHS>;
var<workgroup> vs: array<f32, MAXHS>;
var<workgroup> ps: array<f32, WG>;  // p of the tile's pairs; then dv's part sums
var<workgroup> dss: array<f32, WG>; // ds of the tile's pairs; then dk's part sums

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let T = params.t;
    let NH = params.nh;
    let HS = params.hs;
    let s = row % params.s;
    let bg = row / params.s;
    let g = bg % params.nkv;
    let b = bg / params.nkv;
    let group = NH / params.nkv;

    let kb = ((b * params.s + s) * params.nkv + g) * HS;
    for (var i = lid; i < HS; i += WG) {
        ks[i] = k[kb + i];
        vs[i] = v[kb + i];
    }
    workgroupBarrier();

    // Query t sees key s when s <= P+t: queries t0..T-1 of each head.
    let t0 = select(0u, s - params.pos0, s > params.pos0);
    let nt = select(0u, T - t0, t0 < T);
    let pairs = group * nt; // (h,t) pairs, h-major
    let h0 = g * group;

    let parts = WG / HS;
    let i = lid % HS;
    let part = lid / HS;
    var acck: f32 = 0.0;
    var accv: f32 = 0.0;
    for (var j0 = 0u; j0 < pairs; j0 += WG) {
        let j = j0 + lid;
        var p: f32 = 0.0;
        var d: f32 = 0.0;
        if (j < pairs) {
            let h = h0 + j / nt;
            let t = t0 + j % nt;
            let qb = ((b * T + t) * NH + h) * HS;
            var z: f32 = 0.0;
            var dp: f32 = 0.0;
            for (var c = 0u; c < HS; c++) {
                z += q[qb + c] * ks[c];
                dp += dout[qb + c] * vs[c];
            }
            let lrow = (b * NH + h) * T + t;
            p = exp(z * params.scale - lse[lrow]);
            d = p * (dp - delta[lrow]) * params.scale;
        }
        ps[lid] = p;
        dss[lid] = d;
        workgroupBarrier();
        if (part < parts) {
            let n = min(WG, pairs - j0);
            for (var jj = part; jj < n; jj += parts) {
                let pj = j0 + jj;
                let h = h0 + pj / nt;
                let t = t0 + pj % nt;
                let x = ((b * T + t) * NH + h) * HS + i;
                acck += dss[jj] * q[x];
                accv += ps[jj] * dout[x];
            }
        }
        workgroupBarrier(); // all have read ps and dss before the next tile
    }
    ps[lid] = accv;
    dss[lid] = acck;
    workgroupBarrier();
    if (lid < HS) {
        var tk: f32 = 0.0;
        var tv: f32 = 0.0;
        for (var j = 0u; j < parts; j++) {
            tk += dss[j * HS + lid];
            tv += ps[j * HS + lid];
        }
        dk[kb + lid] = tk;
        dv[kb + lid] = tv;
    }
}
