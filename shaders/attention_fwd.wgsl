// attention_fwd: causal scaled dot-product attention with grouped query
// heads, query head h reading key/value head g = h / (NH/NKV), the T
// queries at positions P..P+T-1 (P = pos0; a KV cache holds keys 0..P-1):
//   att[b,h,t,s] = softmax over s <= P+t of q[b,t,h,:] . k[b,s,g,:] / sqrt(HS)
//   out[b,t,h,:] = sum over s <= P+t of att[b,h,t,s] * v[b,s,g,:]
// q and out are (B,T,NH,HS); k and v are (B,S,NKV,HS) with S >= P+T (S = T,
// P = 0 without a cache); att is (B,NH,T,S) with entries s > P+t set to 0,
// written only when write_att != 0 (otherwise a 4-byte placeholder is
// bound there).
// Twin: engine/ref.AttentionForward. Bindings: q, k, v (read), out, att
// (read_write), Params.
// One workgroup per query row (b,h,t); row = wid.y * num_workgroups.x +
// wid.x = (b*NH + h)*T + t, so the grid may be 2-D. The row's query is
// cached in workgroup memory, each invocation scores keys lid, lid+WG, ...
// into p (workgroup memory, S <= MAXT), max and sum are tree reductions, and
// invocation lid then sums dimension lid (+WG, ...) of the weighted values.
// Per invocation no loop runs more than ceil(HS/WG)*S trips.
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;
const MAXT: u32 = 2048u; // most keys, S (8 KiB of workgroup memory)
const MAXHS: u32 = 256u; // largest head size

struct Params {
    t: u32,         // T, sequence length
    nh: u32,        // NH, query heads
    nkv: u32,       // NKV, key/value heads
    hs: u32,        // HS, head size
    rows: u32,      // B*NH*T
    write_att: u32, // 1: write att; 0: att is a placeholder
    scale: f32,     // 1/sqrt(HS)
    s: u32,         // S, keys per sequence in k and v
    pos0: u32,      // P, position of query 0
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> att: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> p: array<f32, MAXT>;
var<workgroup> qs: array<f32, MAXHS>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let T = params.t;
    let HS = params.hs;
    let t = row % T;
    let last = params.pos0 + t; // the last key this query sees
    let bh = row / T;
    let h = bh % params.nh;
    let b = bh / params.nh;
    let g = h / (params.nh / params.nkv);

    let qbase = ((b * T + t) * params.nh + h) * HS;
    for (var i = lid; i < HS; i += WG) {
        qs[i] = q[qbase + i];
    }
    workgroupBarrier();

    // Scores of keys s <= P+t.
    let kvstride = params.nkv * HS;
    let kvbase = b * params.s * kvstride + g * HS;
    for (var s = lid; s <= last; s += WG) {
        let kb = kvbase + s * kvstride;
        var d: f32 = 0.0;
        for (var i = 0u; i < HS; i++) {
            d += qs[i] * k[kb + i];
        }
        p[s] = d * params.scale;
    }
    workgroupBarrier();

    // Start from a score of the row itself (no -FLT_MAX sentinel: Tint
    // rejects -3.40282347e+38 as outside f32).
    var m = p[min(lid, last)];
    for (var s = lid; s <= last; s += WG) {
        m = max(m, p[s]);
    }
    m = workgroup_max(lid, m);

    var sum: f32 = 0.0;
    for (var s = lid; s <= last; s += WG) {
        let e = exp(p[s] - m);
        p[s] = e;
        sum += e;
    }
    sum = workgroup_sum(lid, sum); // its barriers publish p
    let inv = 1.0 / sum;
    for (var s = lid; s <= last; s += WG) {
        p[s] *= inv;
    }
    workgroupBarrier();

    for (var i = lid; i < HS; i += WG) {
        var acc: f32 = 0.0;
        for (var s = 0u; s <= last; s++) {
            acc += p[s] * v[kvbase + s * kvstride + i];
        }
        out[qbase + i] = acc;
    }

    if (params.write_att != 0u) {
        let abase = row * params.s;
        for (var s = lid; s < params.s; s += WG) {
            att[abase + s] = select(0.0, p[s], s <= last);
        }
    }
}
