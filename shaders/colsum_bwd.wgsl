// colsum_bwd: out[g*cols+c] = (accumulate ? out[g*cols+c] : 0) + sum over
// rows r of chunk g of x[r*cols+c], chunk g being rows g*chunk up to
// min((g+1)*chunk, rows): the column sums of x (rows, cols), row-major, in
// one pass (one chunk of all rows), or two (chunks of about sqrt(rows)
// rows into a (chunks, cols) partials buffer, then that buffer's column
// sums), the bias and IA3 gradients. WGSL has no f32 atomics, hence the
// passes. Twin: engine/ref.LinearBackward's dbias (engine/ops.ColSum).
// Bindings: x (rows, cols) read, out (chunks, cols) read_write, Params.
// One invocation per column and chunk, adjacent invocations on adjacent
// columns (adjacent words of each row): column gid.y*row + gid.x, chunk
// gid.z; grid (x, y, chunks) with x*y*WG >= cols, 2-D past 65535
// workgroups (engine/ops flatGrid).
// The loop runs chunk times; the host keeps chunk far below lavapipe's
// 65535.

const WG: u32 = 64u;

struct Params {
    rows: u32,
    cols: u32,
    chunk: u32,      // rows per chunk
    accumulate: u32, // 1: add to out, 0: overwrite it
    row: u32,        // invocations per grid row
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.y * params.row + gid.x;
    let g = gid.z;
    let start = g * params.chunk;
    if (c >= params.cols || start >= params.rows) {
        return;
    }
    let end = min(start + params.chunk, params.rows);
    var s = 0.0;
    for (var r = start; r < end; r++) {
        s += x[r * params.cols + c];
    }
    let i = g * params.cols + c;
    if (params.accumulate != 0u) {
        s = out[i] + s;
    }
    out[i] = s;
}
