// vocab_partial_fwd: one chunk of a vocabulary, ids col0..col0+cols-1, whose
// logits l are (rows, cols) row-major, e.g. one slice of a split LM head's
// output (B*T, cols). For r < rows it writes partials[r*chunks + chunk] =
//   max_logit    m = max over c of l[r, c]
//   sum_exp      sum over c of exp(l[r, c] - m)
//   target_logit l[r, t_r - col0] when col0 <= t_r < col0+cols, else 0
//   has_target   1 when t_r falls in the chunk, else 0
//   argmax       col0 + the lowest c with l[r, c] = m
// with t_r = targets[r] (0xFFFFFFFF, i.e. -1, masks a row: no chunk has it).
// First of two passes (then vocab_final_fwd.wgsl, which combines a row's
// chunks); together their twin is engine/ref.CrossEntropyForward on the
// whole row, plus the row's argmax.
// Bindings: logits (read), targets (rows u32, read), partials (rows *
// chunks Partial records, read_write), Params.
// One workgroup per row; row = wid.y * num_workgroups.x + wid.x, so the grid
// may be 2-D when rows > 65535. Invocations stride over the row WG columns
// apart (a 152k-column chunk is ~600 trips per loop: lavapipe silently
// leaves a loop after 65535) and combine max, argmax and sum in workgroup
// memory.
// Include: workgroup_reduce.wgsl (workgroup_max, workgroup_sum over WG).

const WG: u32 = 256u;

// NONE is above every id: the host keeps col0 + cols <= 2^30.
const NONE: u32 = 0xFFFFFFFFu;

struct Params {
    rows: u32,
    cols: u32,   // vocabulary ids in this chunk
    col0: u32,   // id of the chunk's column 0
    chunk: u32,  // this chunk's record in each row, 0..chunks-1
    chunks: u32, // records per row
}

// Partial is one chunk's record of one row (five 4-byte words; the same
// struct as in vocab_final_fwd.wgsl, and vocabPartialWords in engine/ops).
struct Partial {
    max_logit: f32,
    sum_exp: f32,
    target_logit: f32,
    has_target: u32,
    argmax: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<Partial>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> id_scratch: array<u32, WG>;

// workgroup_min_id returns the min of v over the workgroup to every invocation.
fn workgroup_min_id(lid: u32, v: u32) -> u32 {
    id_scratch[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            id_scratch[lid] = min(id_scratch[lid], id_scratch[lid + s]);
        }
        workgroupBarrier();
    }
    return id_scratch[0]; // not reused after this
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wid.y * groups.x + wid.x;
    if (row >= params.rows) {
        return; // the same for the whole workgroup, so barriers stay uniform
    }
    let base = row * params.cols;

    // Each invocation's max and the first column holding it: it visits its
    // columns in ascending order and only a strictly larger value moves
    // `at`. It starts from a value of the row itself (no -FLT_MAX sentinel:
    // Tint rejects -3.40282347e+38 as outside f32).
    var at = min(lid, params.cols - 1u);
    var m = logits[base + at];
    for (var c = lid; c < params.cols; c += WG) {
        let v = logits[base + c];
        if (v > m) {
            m = v;
            at = c;
        }
    }
    let row_max = workgroup_max(lid, m);
    // Of the invocations that hold the chunk's max, the lowest column wins.
    let first = workgroup_min_id(lid, select(NONE, at, m == row_max));

    var s: f32 = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        s += exp(logits[base + c] - row_max);
    }
    s = workgroup_sum(lid, s);

    if (lid == 0u) {
        let t = targets[row];
        let i = t - params.col0; // wraps past cols when t < col0
        let has = t >= params.col0 && i < params.cols;
        let xt = select(0.0, logits[base + min(i, params.cols - 1u)], has);
        partials[row * params.chunks + params.chunk] =
            Partial(row_max, s, xt, select(0u, 1u, has), params.col0 + first);
    }
}
