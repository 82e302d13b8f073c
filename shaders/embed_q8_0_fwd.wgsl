// embed_q8_0_fwd: out[i, c] = dequant(table)[tok_i, c] for i < n, c < cols,
// with tok_i = min(tokens[i], vocab - 1); table is a packed Q8_0 (vocab,
// cols) matrix (engine/tensor.Packed), decoded in the kernel, never expanded
// in GPU memory. Bit-exact with engine/tensor.Decode.
// Twin: engine/ref.EncoderForward (wpe nil) on the tensor.Decode'd table
// (engine/ops.Embed.Quant).
// Include: f16_decode.wgsl, q8_0_decode.wgsl.
// Bindings: tokens (n u32) read, quants (vocab*cols/16 vec4<u32>) read,
// scales (ceil(vocab*cols/64) u32) read, out (n*cols) read_write, Params.
// One invocation per output element: i = gid.y * params.row + gid.x of
// params.elems; the grid may be 2-D. Out-of-range ids are clamped to the
// last row (never an out-of-bounds read).

const WG: u32 = 256u;

struct Params {
    elems: u32, // n * cols
    vocab: u32,
    cols: u32,  // a multiple of 32
    row: u32,   // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> quants: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.elems) {
        return;
    }
    let tok = min(tokens[i / params.cols], params.vocab - 1u);
    let c = i % params.cols;
    let b = tok * (params.cols / 32u) + c / 32u; // block
    let j = c % 32u;                             // element of the block
    let quad = q8_0_quad(quants[2u * b + j / 16u][(j % 16u) / 4u]);
    out[i] = quad[j % 4u] * q8_0_scale(scales[b / 2u], b);
}
