// embed_raw_fwd: out[i, c] = decode(table)[tok_i, c] for i < n, c < K,
// with tok_i = min(tokens[i], vocab - 1); table is a frozen (vocab, K)
// matrix kept on the GPU as its GGUF file's bytes (F16, BF16, Q4_1, Q5_0,
// Q5_1, IQ4_NL, Q4_K, Q5_K, Q6_K), decoded in the kernel, never expanded
// in GPU memory. Bit-exact with engine/tensor.Decode.
// Twin: engine/ref.EncoderForward (wpe nil) on the tensor.Decode'd table
// (engine/ops.RawEmbed).
// Include: f16_decode.wgsl, raw_bytes.wgsl, then the type's snippet(s)
// ending in <type>_raw_quad.wgsl (wquad(row, k): elements k..k+3 of row).
// Bindings: tokens (n u32) read, w (the vocab rows' GGUF bytes, padded to
// whole u32s) read, out (n*K, as n*K/4 vec4) read_write, Params.
// One invocation per 4 outputs: quad i = gid.y * params.row + gid.x of
// params.quads; the grid may be 2-D. Needs K % 4 == 0. Out-of-range ids are
// clamped to the last row (never an out-of-bounds read).

const WG: u32 = 256u;

struct Params {
    quads: u32, // n * K / 4
    vocab: u32,
    k: u32,     // columns: values per table row
    row: u32,   // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.quads) {
        return;
    }
    let quads = params.k / 4u; // per row
    let tok = min(tokens[i / quads], params.vocab - 1u);
    out[i] = wquad(tok, 4u * (i % quads));
}
