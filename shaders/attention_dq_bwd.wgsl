// attention_dq_bwd: first pass of attention's backward (FlashAttention-2
// style: no T x S probability matrix is stored, p is recomputed from the
// saved log-sum-exp). For query row (b,h,t), g = h / (NH/NKV), keys
// s <= P+t:
//   delta[b,h,t] = dout[b,t,h,:] . out[b,t,h,:]
//   p_s          = exp(q[b,t,h,:] . k[b,s,g,:] / sqrt(HS) - lse[b,h,t])
//   ds_s         = p_s * (dout[b,t,h,:] . v[b,s,g,:] - delta[b,h,t]) / sqrt(HS)
//   dq[b,t,h,:]  = sum over s <= P+t of ds_s * k[b,s,g,:]
// (delta equals sum over s of p_s * dP_s, the softmax backward's row term.)
// delta is written for attention_dkv_bwd.wgsl, the second pass. dout, q,
// out and dq are (B,T,NH,HS); k and v are (B,S,NKV,HS); lse and delta are
// (B,NH,T). dq is written, not accumulated.
// Twin: engine/ref.AttentionBackward (dq). Bindings: dout, q, k, v, out,
// lse (read), dq, delta (read_write), Params.
// One workgroup per query row; row = wid.y * num_workgroups.x + wid.x =
// (b*NH + h)*T + t, so the grid may be 2-D. Keys go in tiles of WG: each
// invocation scores one key of the tile into workgroup memory, then the
// workgroup, split into WG/HS parts of HS invocations (part j takes keys j,
// j + WG/HS, ... of the tile, invocation i of a part dimension i), adds
// ds_s * k[s,i]; the parts are summed at the end. Per invocation the loops
// run about ceil(S/WG)*(HS + ceil(WG/(WG/HS)) + 1) + WG/HS + 10 trips in
// all, under 4400 at S = 2048, HS = 256 (lavapipe silently leaves a shader
// after 65535 in all; engine/ops attnBwdTrips counts them).
// Include: workgroup_reduce.wgsl (workgroup_sum over WG).

const WG: u32 = 256u;
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

@group(0) @binding(0) var<storage, read> dout: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> qs: array<f32, MAXHS>;
var<workgroup> dos: array<f32, MAXHS>;
var<workgroup> ds: array<f32, WG>; // ds_s of the tile's keys
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

    let base = ((b * T + t) * params.nh + h) * HS;
    var dd: f32 = 0.0;
    for (var i = lid; i < HS; i += WG) {
        qs[i] = q[base + i];
        let o = dout[base + i];
        dos[i] = o;
        dd += o * out[base + i];
    }
    let D = workgroup_sum(lid, dd); // its barriers publish qs and dos
    if (lid == 0u) {
        delta[row] = D;
    }
    let L = lse[row];

    let kvstride = params.nkv * HS;
    let kvbase = b * params.s * kvstride + g * HS;
    let parts = WG / HS;
    let i = lid % HS;
    let part = lid / HS;
    var acc: f32 = 0.0;
    for (var s0 = 0u; s0 <= last; s0 += WG) {
        let s = s0 + lid;
        var d: f32 = 0.0;
        if (s <= last) {
            let kb = kvbase + s * kvstride;
            var z: f32 = 0.0;
            var dp: f32 = 0.0;
            for (var j = 0u; j < HS; j++) {
                z += qs[j] * k[kb + j];
                dp += dos[j] * v[kb + j];
            }
            d = exp(z * params.scale - L) * (dp - D) * params.scale;
        }
        ds[lid] = d;
        workgroupBarrier();
        if (part < parts) {
            let n = min(WG, last + 1u - s0);
            for (var j = part; j < n; j += parts) {
                acc += ds[j] * k[kvbase + (s0 + j) * kvstride + i];
            }
        }
        workgroupBarrier(); // all have read ds before the next tile
    }
    part_sums[lid] = acc;
    workgroupBarrier();
    if (lid < HS) {
        var total: f32 = 0.0;
        for (var j = 0u; j < parts; j++) {
            total += part_sums[j * HS + lid];
        }
        dq[base + lid] = total;
    }
}
