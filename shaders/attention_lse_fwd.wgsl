// attention_lse_fwd: attention_fwd for training, saving each query row's
// log-sum-exp for the backward pass instead of its probabilities:
//   z[b,h,t,s]  = q[b,t,h,:] . k[b,s,g,:] / sqrt(HS)        for s <= P+t
//   lse[b,h,t]  = log sum over s <= P+t of exp(z[b,h,t,s])
//   out[b,t,h,:] = sum over s <= P+t of exp(z[b,h,t,s] - lse[b,h,t]) * v[b,s,g,:]
// with g = h / (NH/NKV) and the T queries at positions P..P+T-1 (P = pos0;
// keys 0..P-1 are a prefix or cache). q and out are (B,T,NH,HS); k and v are
// (B,S,NKV,HS) with S >= P+T; lse is (B,NH,T).
// Twin: engine/ref.AttentionForward (lse: engine/ops attnTrainRef). Bindings:
// q, k, v (read), out, lse (read_write), Params.
// One workgroup per query row (b,h,t); row = wid.y * num_workgroups.x +
// wid.x = (b*NH + h)*T + t, so the grid may be 2-D. As in attention_fwd, the
// row's scores live in workgroup memory (S <= MAXT) and max and sum are tree
// reductions. The weighted sum of values splits the workgroup into
// WG/HS parts, part j summing keys j, j + WG/HS, ... for all HS dimensions,
// then adds the parts. Per invocation the loops run about
// ceil(S/WG)*(HS+2) + S/(WG/HS) + WG/HS + 17 trips in all, 4129 at S = 2048,
// HS = 256 (lavapipe silently leaves a shader after 65535 in all).
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;
const MAXT: u32 = 2048u; // most keys, S (8 KiB of workgroup memory)
const MAXHS: u32 = 256u; // largest head size (<= WG)

struct Params {
    t: u32,     // T, queries per sequence
    nh: u32,    // NH, query heads
    nkv: u32,   // NKV, key/value heads
    hs: u32,    // HS, head size
    rows: u32,  // B*NH*T, one per workgroup
    scale: f32, // 1/sqrt(HS)
    s: u32,     // S, keys per sequence in k and v
    pos0: u32,  // P, position of query 0
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> p: array<f32, MAXT>;
var<workgroup> qs: array<f32, MAXHS>;
var<workgroup> part_sums: array<f32, WG>;

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
    if (lid == 0u) {
        lse[row] = m + log(sum);
    }

    // Part j of the workgroup sums keys j, j + parts, ... for dimension i.
    let parts = WG / HS;
    let i = lid % HS;
    let part = lid / HS;
    var acc: f32 = 0.0;
    if (part < parts) {
        for (var s = part; s <= last; s += parts) {
            acc += p[s] * v[kvbase + s * kvstride + i];
        }
    }
    part_sums[lid] = acc;
    workgroupBarrier();
    if (lid < HS) {
        var total: f32 = 0.0;
        for (var j = 0u; j < parts; j++) {
            total += part_sums[j * HS + lid];
        }
        out[qbase + lid] = total / sum;
    }
}
