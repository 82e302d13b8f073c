// vocab_bwd: the backward pass of the chunked cross-entropy, fused with its
// softmax, over one chunk of the vocabulary, ids col0..col0+cols-1, whose
// logits l are (rows, cols) row-major. For r < rows, j < cols:
//   dlogits[r, j] (+)= (exp(l[r, j] - lse[r]) - [col0 + j == t_r]) * dloss[r]
//   lse[r] = M + log(S),  M = max over k of m_k,  S = sum over k of s_k * exp(m_k - M)
// where (m_k, s_k) are the max_logit and sum_exp of record k of row r,
// partials[r*chunks + k], for k < chunks: every chunk's record, written by
// vocab_partial_fwd.wgsl in the forward pass. t_r = targets[r];
// 0xFFFFFFFF (-1) masks a row, which gets no gradient (0, or dlogits
// unchanged with accumulate). With accumulate the gradient is added to
// dlogits, otherwise it replaces it.
// Twin: engine/ref.CrossEntropyBackward on the whole row (this chunk's
// columns of it).
// Bindings: logits (read), targets (rows u32, read), partials (rows *
// chunks Partial records, read), dloss (rows f32, read), dlogits (rows *
// cols f32, read_write), Params.
// One workgroup per row; row = wid.y * num_workgroups.x + wid.x, so the grid
// may be 2-D when rows > 65535. Invocations stride over the row's records
// and then its columns WG apart (the host keeps chunks and cols so every
// loop stays far below lavapipe's 65535-trip cut-off) and combine the
// records in workgroup memory.
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;

const NONE: u32 = 0xFFFFFFFFu; // a masked row's target

struct Params {
    rows: u32,
    cols: u32,       // vocabulary ids in this chunk
    col0: u32,       // id of the chunk's column 0
    chunks: u32,     // records per row
    accumulate: u32, // 1: dlogits += gradient, 0: dlogits = gradient
}

// Partial is one chunk's record of one row (the same struct as in
// vocab_partial_fwd.wgsl).
struct Partial {
    max_logit: f32,
    sum_exp: f32,
    target_logit: f32,
    has_target: u32,
    argmax: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read> partials: array<Partial>;
@group(0) @binding(3) var<storage, read> dloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let base = row * params.cols;
    let t = targets[row];
    if (t == NONE) { // also the same for the whole workgroup
        if (params.accumulate == 0u) {
            for (var c = lid; c < params.cols; c += WG) {
                dlogits[base + c] = 0.0;
            }
        }
        return;
    }

    let first = row * params.chunks;
    var m = partials[first + min(lid, params.chunks - 1u)].max_logit;
    for (var k = lid; k < params.chunks; k += WG) {
        m = max(m, partials[first + k].max_logit);
    }
    let row_max = workgroup_max(lid, m);
    var s: f32 = 0.0;
    for (var k = lid; k < params.chunks; k += WG) {
        let p = partials[first + k];
        s += p.sum_exp * exp(p.max_logit - row_max);
    }
    let inv_sum = 1.0 / workgroup_sum(lid, s);

    let dl = dloss[row];
    let tj = t - params.col0; // wraps past cols when t < col0
    for (var c = lid; c < params.cols; c += WG) {
        var g = exp(logits[base + c] - row_max) * inv_sum;
        if (c == tj) {
            g -= 1.0;
        }
        g *= dl;
        if (params.accumulate != 0u) {
            g += dlogits[base + c];
        }
        dlogits[base + c] = g;
    }
}
