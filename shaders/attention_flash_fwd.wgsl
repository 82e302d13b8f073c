// attention_flash_fwd: attention_lse_fwd without workgroup memory, barriers
// or a length limit (FlashAttention-style online softmax): for query row
// (b,h,t), g = h / (NH/NKV), keys s <= P+t in blocks of KB:
//   z_s  = q[b,t,h,:] . k[b,s,g,:] / sqrt(HS)
//   m'   = max(m, z_s of the block);  c = exp(m - m')
//   l    = l*c + sum over the block of exp(z_s - m')
//   acc  = acc*c + sum over the block of exp(z_s - m') * v[b,s,g,:]
//   finally out[b,t,h,:] = acc / l and lse[b,h,t] = m + log(l).
// q and out are (B,T,NH,HS); k and v are (B,S,NKV,HS); lse and lsum are
// (B,NH,T). All are bound as vec4 arrays or f32 (HS % 4 == 0).
// Twin: engine/ref.AttentionForward (lse: engine/ops attnTrainRef).
// Bindings: q, k, v (read), out, lse, lsum (read_write), Params.
// One invocation per query row, row = gid.y * params.row_len + gid.x =
// (b*NH + h)*T + t: no invocation waits on another, which is what CPU
// adapters (lavapipe, SwiftShader) want, where a barrier switches between
// every invocation's stack and idle invocations still cost. The row's
// query (pre-scaled) and accumulator live in private arrays indexed by a
// uniform loop counter; neighbouring invocations are neighbouring queries
// of one head, so they read the same key and value rows.
// One dispatch covers keys [k0, k1) (all keys when the chunk is the only
// one): lavapipe silently leaves a shader after 65535 loop trips in all, so
// the host (engine/ops flashChunks) splits longer rows over dispatches
// that carry the running max in lse, the running sum in lsum and the
// unnormalised accumulator in out. Per invocation the loops run about
// 3*HS/4 + ceil(keys/KB)*(2*HS/4 + 1) trips.

const WG: u32 = 32u;
const KB: u32 = 4u;        // keys per block: one vec4 of scores
const MAXHS4: u32 = 64u;   // HS/4 <= 64 (HS <= 256)
const NEG: f32 = -1.0e30;  // below every score; exp(NEG - m) is 0

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
    first: u32,   // 1: no carried state (k0 == 0)
    last: u32,    // 1: finish: normalise out, write lse
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> lsum: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

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

    let qb = row_base(b, t, h);
    var qv: array<vec4<f32>, MAXHS4>;
    var acc: array<vec4<f32>, MAXHS4>;
    var m = NEG;
    var l: f32 = 0.0;
    if (params.first != 0u) {
        for (var i = 0u; i < HS4; i++) {
            qv[i] = q[qb + i] * params.scale;
            acc[i] = vec4<f32>(0.0);
        }
    } else {
        m = lse[row];
        l = lsum[row];
        for (var i = 0u; i < HS4; i++) {
            qv[i] = q[qb + i] * params.scale;
            acc[i] = out[qb + i];
        }
    }

    let kvs = params.nkv * HS4; // vec4s per key position
    let kvbase = b * params.s * kvs + g * HS4;
    for (var s0 = params.k0; s0 < kend; s0 += KB) {
        // Keys past kend repeat the last one and get probability 0.
        let last = kend - 1u;
        let o0 = kvbase + s0 * kvs;
        let o1 = kvbase + min(s0 + 1u, last) * kvs;
        let o2 = kvbase + min(s0 + 2u, last) * kvs;
        let o3 = kvbase + min(s0 + 3u, last) * kvs;
        var z = vec4<f32>(0.0);
        for (var i = 0u; i < HS4; i++) {
            let qi = qv[i];
            z += vec4<f32>(dot(qi, k[o0 + i]), dot(qi, k[o1 + i]), dot(qi, k[o2 + i]), dot(qi, k[o3 + i]));
        }
        let live = vec4<u32>(s0, s0 + 1u, s0 + 2u, s0 + 3u) < vec4<u32>(kend);
        z = select(vec4<f32>(NEG), z, live);
        let mn = max(m, max(max(z.x, z.y), max(z.z, z.w)));
        let c = exp(m - mn);
        let p = exp(z - vec4<f32>(mn));
        l = l * c + (p.x + p.y) + (p.z + p.w);
        for (var i = 0u; i < HS4; i++) {
            acc[i] = acc[i] * c + p.x * v[o0 + i] + p.y * v[o1 + i] + p.z * v[o2 + i] + p.w * v[o3 + i];
        }
        m = mn;
    }

    if (params.last != 0u) {
        let inv = 1.0 / l;
        for (var i = 0u; i < HS4; i++) {
            out[qb + i] = acc[i] * inv;
        }
        lse[row] = m + log(l);
    } else {
        for (var i = 0u; i < HS4; i++) {
            out[qb + i] = acc[i];
        }
        lse[row] = m;
        lsum[row] = l;
    }
}

// row_base is the first vec4 of query row (b,t,h) in a (B,T,NH,HS) tensor.
fn row_base(b: u32, t: u32, h: u32) -> u32 {
    return ((b * params.t + t) * params.nh + h) * params.hs4;
}
