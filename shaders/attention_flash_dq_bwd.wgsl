// attention_flash_dq_bwd: attention_dq_bwd without workgroup memory or
// barriers: for query row (b,h,t), g = h / (NH/NKV), keys s <= P+t in
// blocks of KB:
//   delta[b,h,t] = dout[b,t,h,:] . out[b,t,h,:]
//   p_s          = exp(q[b,t,h,:] . k[b,s,g,:] / sqrt(HS) - lse[b,h,t])
//   ds_s         = p_s * (dout[b,t,h,:] . v[b,s,g,:] - delta[b,h,t]) / sqrt(HS)
//   dq[b,t,h,:]  = sum over s <= P+t of ds_s * k[b,s,g,:]
// delta is written for attention_flash_dkv_bwd.wgsl. dout, q, out and dq
// are (B,T,NH,HS); k and v are (B,S,NKV,HS); lse and delta are (B,NH,T).
// Twin: engine/ref.AttentionBackward (dq). Bindings: dout, q, k, v, out,
// lse (read), dq, delta (read_write), Params.
// One invocation per query row, row = gid.y * params.row_len + gid.x =
// (b*NH + h)*T + t (see attention_flash_fwd.wgsl for why). One dispatch
// covers keys [k0, k1); the host (engine/ops flashChunks) splits rows over
// dispatches to stay under lavapipe's 65535 loop trips per invocation: the
// first writes delta and dq, the others read delta and add to dq. Per
// invocation the loops run about 3*HS/4 + ceil(keys/KB)*(2*HS/4 + 1) trips.

const WG: u32 = 32u;
const KB: u32 = 4u;      // keys per block: one vec4 of scores
const MAXHS4: u32 = 64u; // HS/4 <= 64 (HS <= 256)

struct Params {
    t: u32,       // T, queries per sequence
    nh: u32,      // NH, query heads
    nkv: u32,     // NKV, key/value heads
    hs4: u32,     // HS/4
    rows: u32,    // B*NH*T, one per invocation
    scale: f32,   // 1/sqrt(HS)
    s: u32,       // S, keys per sequence in k and v
    pos0: u32,    // P, position of query 0
    row_len: u32, // invocations per grid row: WG * workgroups in x
    k0: u32,      // first key of this dispatch
    k1: u32,      // one past its last key (rows stop earlier at P+t+1)
    first: u32,   // 1: write delta and dq; 0: read delta, add to dq
    pad: u32,
}

@group(0) @binding(0) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y * params.row_len + gid.x;
    if (row >= params.rows) {
        return;
    }
    let T = params.t;
    let HS4 = params.hs4;
    let t = row % T;
    let bh = row / T;
    let h = bh % params.nh;
    let b = bh / params.nh;
    let g = h / (params.nh / params.nkv);
    let kend = min(params.k1, params.pos0 + t + 1u); // keys [k0, kend)

    let qb = ((b * T + t) * params.nh + h) * HS4;
    var qv: array<vec4<f32>, MAXHS4>;
    var dov: array<vec4<f32>, MAXHS4>;
    var acc: array<vec4<f32>, MAXHS4>;
    var dd = vec4<f32>(0.0);
    for (var i = 0u; i < HS4; i++) {
        qv[i] = q[qb + i] * params.scale;
        let o = dout[qb + i];
        dov[i] = o;
        dd += o * out[qb + i];
    }
    var D = (dd.x + dd.y) + (dd.z + dd.w);
    if (params.first != 0u) {
        delta[row] = D;
        for (var i = 0u; i < HS4; i++) {
            acc[i] = vec4<f32>(0.0);
        }
    } else {
        D = delta[row];
        for (var i = 0u; i < HS4; i++) {
            acc[i] = dq[qb + i];
        }
    }
    let L = lse[row];

    let kvs = params.nkv * HS4; // vec4s per key position
    let kvbase = b * params.s * kvs + g * HS4;
    for (var s0 = params.k0; s0 < kend; s0 += KB) {
        // Keys past kend repeat the last one and get ds = 0.
        let last = kend - 1u;
        let o0 = kvbase + s0 * kvs;
        let o1 = kvbase + min(s0 + 1u, last) * kvs;
        let o2 = kvbase + min(s0 + 2u, last) * kvs;
        let o3 = kvbase + min(s0 + 3u, last) * kvs;
        var z = vec4<f32>(0.0);
        var dp = vec4<f32>(0.0);
        for (var i = 0u; i < HS4; i++) {
            let qi = qv[i];
            let di = dov[i];
            let k0 = k[o0 + i];
            let k1 = k[o1 + i];
            let k2 = k[o2 + i];
            let k3 = k[o3 + i];
            z += vec4<f32>(dot(qi, k0), dot(qi, k1), dot(qi, k2), dot(qi, k3));
            dp += vec4<f32>(dot(di, v[o0 + i]), dot(di, v[o1 + i]), dot(di, v[o2 + i]), dot(di, v[o3 + i]));
        }
        let live = vec4<u32>(s0, s0 + 1u, s0 + 2u, s0 + 3u) < vec4<u32>(kend);
        let p = select(vec4<f32>(0.0), exp(z - vec4<f32>(L)), live);
        let ds = p * (dp - vec4<f32>(D)) * params.scale;
        for (var i = 0u; i < HS4; i++) {
            acc[i] += ds.x * k[o0 + i] + ds.y * k[o1 + i] + ds.z * k[o2 + i] + ds.w * k[o3 + i];
        }
    }
    for (var i = 0u; i < HS4; i++) {
        dq[qb + i] = acc[i];
    }
}
