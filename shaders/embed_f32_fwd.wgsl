// embed_f32_fwd: out[i, c] = table[tok_i, c] for i < n, c < cols, with
// tok_i = min(tokens[i], vocab - 1); table is (vocab, cols) row-major f32,
// out is (n, cols), e.g. token embeddings (B*T, C).
// Twin: engine/ref.EncoderForward with wpe nil (engine/ops.Embed.F32).
// Bindings: tokens (n u32) read, table (vocab*cols) read, out (n*cols)
// read_write, Params.
// One invocation per output element: i = gid.y * params.row + gid.x of
// params.elems; the grid may be 2-D when that needs more than 65535
// workgroups. An out-of-range token id is clamped to the last row, so the
// kernel never reads outside the table (the host refuses such ids where it
// knows them: engine/ops.NewTokens).

const WG: u32 = 256u;

struct Params {
    elems: u32, // n * cols
    vocab: u32,
    cols: u32,
    row: u32,   // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.elems) {
        return;
    }
    let tok = min(tokens[i / params.cols], params.vocab - 1u);
    out[i] = table[tok * params.cols + i % params.cols];
}
