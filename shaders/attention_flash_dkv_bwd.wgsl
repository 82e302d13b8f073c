// attention_flash_dkv_bwd: attention_dkv_bwd without workgroup memory or
// barriers (after attention_flash_dq_bwd.wgsl, which wrote delta). For key
// row (b,g,s) and the queries t >= s-P (all t for a prefix slot s < P) of
// the NH/NKV query heads h of group g, in blocks of KB queries:
//   p  = exp(q[b,t,h,:] . k[b,s,g,:] / sqrt(HS) - lse[b,h,t])
//   ds = p * (dout[b,t,h,:] . v[b,s,g,:] - delta[b,h,t]) / sqrt(HS)
//   dk[b,s,g,:] = sum over (h,t) of ds * q[b,t,h,:]
//   dv[b,s,g,:] = sum over (h,t) of p * dout[b,t,h,:]
// Every one of the S slots is written; a slot no query sees gets 0. dout
// and q are (B,T,NH,HS); k, v, dk and dv are (B,S,NKV,HS); lse and delta
// are (B,NH,T).
// Twin: engine/ref.AttentionBackward (dk, dv). Bindings: dout, q, k, v,
// lse, delta (read), dk, dv (read_write), Params.
// One invocation per key row, row = gid.y * params.row_len + gid.x =
// (b*NKV + g)*S + s: neighbouring invocations are neighbouring keys, so
// they read the same query rows. No atomics: each invocation owns its key
// row. One dispatch covers queries [t0, t1) of every head of the group;
// the host (engine/ops flashChunks) splits T over dispatches to stay under
// lavapipe's 65535 loop trips per invocation: the first writes dk and dv,
// the others add. Per invocation the loops run about
// 4*HS/4 + NH/NKV*(1 + ceil(queries/KB)*(2*HS/4 + 1)) trips.

const WG: u32 = 32u;
const KB: u32 = 4u;      // queries per block: one vec4 of scores
const MAXHS4: u32 = 64u; // HS/4 <= 64 (HS <= 256)

struct Params {
    t: u32,       // T, queries per sequence
    nh: u32,      // NH, query heads
    nkv: u32,     // NKV, key/value heads
    hs4: u32,     // HS/4
    rows: u32,    // B*NKV*S, one per invocation
    scale: f32,   // 1/sqrt(HS)
    s: u32,       // S, keys per sequence in k and v
    pos0: u32,    // P, position of query 0
    row_len: u32, // invocations per grid row: WG * workgroups in x
    t0: u32,      // first query of this dispatch
    t1: u32,      // one past its last query
    first: u32,   // 1: write dk and dv; 0: add to them
    pad: u32,
}

@group(0) @binding(0) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dv: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y * params.row_len + gid.x;
    if (row >= params.rows) {
        return;
    }
    let T = params.t;
    let NH = params.nh;
    let HS4 = params.hs4;
    let s = row % params.s;
    let bg = row / params.s;
    let g = bg % params.nkv;
    let b = bg / params.nkv;
    let group = NH / params.nkv;

    let kr = ((b * params.s + s) * params.nkv + g) * HS4;
    var kv: array<vec4<f32>, MAXHS4>;
    var vv: array<vec4<f32>, MAXHS4>;
    var ak: array<vec4<f32>, MAXHS4>;
    var av: array<vec4<f32>, MAXHS4>;
    for (var i = 0u; i < HS4; i++) {
        kv[i] = k[kr + i] * params.scale;
        vv[i] = v[kr + i];
    }
    if (params.first != 0u) {
        for (var i = 0u; i < HS4; i++) {
            ak[i] = vec4<f32>(0.0);
            av[i] = vec4<f32>(0.0);
        }
    } else {
        for (var i = 0u; i < HS4; i++) {
            ak[i] = dk[kr + i];
            av[i] = dv[kr + i];
        }
    }

    // Query t sees key s when s <= P+t.
    let tlo = max(params.t0, select(0u, s - params.pos0, s > params.pos0));
    let tend = params.t1;
    let qs = NH * HS4; // vec4s per query position
    for (var hh = 0u; hh < group; hh++) {
        let h = g * group + hh;
        let qh = b * T * qs + h * HS4;
        let lh = (b * NH + h) * T;
        for (var t0 = tlo; t0 < tend; t0 += KB) {
            // Queries past tend repeat the last one and get p = ds = 0.
            let last = tend - 1u;
            let ta = vec4<u32>(t0, min(t0 + 1u, last), min(t0 + 2u, last), min(t0 + 3u, last));
            let o0 = qh + ta.x * qs;
            let o1 = qh + ta.y * qs;
            let o2 = qh + ta.z * qs;
            let o3 = qh + ta.w * qs;
            var z = vec4<f32>(0.0);
            var dp = vec4<f32>(0.0);
            for (var i = 0u; i < HS4; i++) {
                let ki = kv[i];
                let vi = vv[i];
                z += vec4<f32>(dot(q[o0 + i], ki), dot(q[o1 + i], ki), dot(q[o2 + i], ki), dot(q[o3 + i], ki));
                dp += vec4<f32>(dot(dout[o0 + i], vi), dot(dout[o1 + i], vi), dot(dout[o2 + i], vi), dot(dout[o3 + i], vi));
            }
            let L = vec4<f32>(lse[lh + ta.x], lse[lh + ta.y], lse[lh + ta.z], lse[lh + ta.w]);
            let D = vec4<f32>(delta[lh + ta.x], delta[lh + ta.y], delta[lh + ta.z], delta[lh + ta.w]);
            let live = vec4<u32>(t0, t0 + 1u, t0 + 2u, t0 + 3u) < vec4<u32>(tend);
            let p = select(vec4<f32>(0.0), exp(z - L), live);
            let ds = p * (dp - D) * params.scale;
            for (var i = 0u; i < HS4; i++) {
                ak[i] += ds.x * q[o0 + i] + ds.y * q[o1 + i] + ds.z * q[o2 + i] + ds.w * q[o3 + i];
                av[i] += p.x * dout[o0 + i] + p.y * dout[o1 + i] + p.z * dout[o2 + i] + p.w * dout[o3 + i];
            }
        }
    }
    for (var i = 0u; i < HS4; i++) {
        dk[kr + i] = ak[i];
        dv[kr + i] = av[i];
    }
}
