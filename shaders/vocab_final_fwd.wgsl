// vocab_final_fwd: combines each row's chunk records (written by
// vocab_partial_fwd.wgsl) into the whole vocabulary's results, for r < rows:
//   M = max over k of m_k,  S = sum over k of sum_exp_k * exp(m_k - M)
//   losses[r] = log(S) + (M - target_logit_k*), k* the chunk with
//               has_target; 0 when no chunk has it (a masked row)
//   argmax[r] = the lowest argmax_k among the chunks with m_k = M
// with record k = partials[r*chunks + k].
// Second of two passes; together their twin is
// engine/ref.CrossEntropyForward on the whole row, plus the row's argmax.
// Bindings: partials (read), losses (rows f32, read_write), argmax (rows
// u32, read_write), Params.
// One invocation per row; the grid may be 2-D when rows need more than
// 65535 workgroups: row y covers rows [y*params.row, (y+1)*params.row). The
// host keeps chunks (each loop's trips) small.

const WG: u32 = 256u;

struct Params {
    rows: u32,
    chunks: u32, // records per row
    row: u32,    // rows per grid row: WG * number of workgroups in x
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

@group(0) @binding(0) var<storage, read> partials: array<Partial>;
@group(0) @binding(1) var<storage, read_write> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.y * params.row + gid.x;
    if (r >= params.rows) {
        return;
    }
    let first = r * params.chunks;

    // Chunks need not be in id order, so ties go to the lowest id, not to
    // the first chunk.
    var m = partials[first].max_logit;
    var arg = partials[first].argmax;
    for (var k = 1u; k < params.chunks; k++) {
        let p = partials[first + k];
        if (p.max_logit > m || (p.max_logit == m && p.argmax < arg)) {
            m = p.max_logit;
            arg = p.argmax;
        }
    }

    var s: f32 = 0.0;
    var xt: f32 = 0.0;
    var has = false;
    for (var k = 0u; k < params.chunks; k++) {
        let p = partials[first + k];
        s += p.sum_exp * exp(p.max_logit - m);
        if (p.has_target != 0u) {
            xt = p.target_logit;
            has = true;
        }
    }
    losses[r] = select(0.0, log(s) + (m - xt), has);
    argmax[r] = arg;
}
