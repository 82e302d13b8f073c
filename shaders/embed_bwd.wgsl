// embed_bwd: the token embedding's gradient, a scatter-add done as a
// gather so that no two invocations write the same element (no atomics):
//     dtable[ids[u], c] += sum over j in [starts[u], starts[u+1]) of dout[order[j], c]
// The host groups the step's n rows by token (EmbedGroups): ids holds the
// distinct tokens, order the rows of each token in ascending order, and
// starts the group boundaries; groups past the last distinct token are
// empty (starts equal) and write nothing. One invocation per (group,
// column), i < n * cols.
// Twin: engine/ref.EncoderBackward (dwpe nil). Bindings: ids (n u32),
// starts (n+1 u32), order (n u32), dout (n*cols) read; dtable
// (vocab*cols) read_write; Params.
// The grid may be 2-D when that needs more than 65535 workgroups: row y
// covers invocations [y*params.row, (y+1)*params.row).

const WG: u32 = 256u;

struct Params {
    elems: u32, // n * cols
    cols: u32,
    row: u32,   // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.elems) {
        return;
    }
    let u = i / params.cols;
    let c = i % params.cols;
    let begin = starts[u];
    let end = starts[u + 1u];
    if (begin == end) {
        return;
    }
    var sum = 0.0;
    for (var j = begin; j < end; j++) {
        sum += dout[order[j] * params.cols + c];
    }
    let at = ids[u] * params.cols + c;
    dtable[at] = dtable[at] + sum;
}
