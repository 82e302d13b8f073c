// dequant_q4_0: out[i] = dequant(w)[i] for the N*K weights of a packed Q4_0
// matrix, through the same decode functions as matmul_quant_rb_fwd. Used only by
// the parity tests, to prove the in-kernel decode bit-exact.
// Twin: engine/tensor.Decode (engine/ops.Dequant).
// Include: f16_decode.wgsl, q4_0_decode.wgsl.
// Bindings: quants (N*K/32 vec4<u32>) read, scales (ceil(N*K/64) u32) read,
// out (N*K) read_write, Params.
// One invocation per quant word (8 weights): word i = gid.y * params.row + gid.x
// of params.words; the grid may be 2-D when that needs more than 65535 workgroups.

const WG: u32 = 64u;

struct Params {
    words: u32, // N*K/8
    row: u32,   // invocations per grid row: WG * workgroups in x
}

@group(0) @binding(0) var<storage, read> quants: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> scales: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * params.row + gid.x;
    if (i >= params.words) {
        return;
    }
    let b = i / 4u; // block: 4 words
    let j = i % 4u; // word j: elements 4j..4j+3 (low nibbles), 4j+16..4j+19 (high)
    let word = quants[b][j];
    let d = q4_0_scale(scales[b / 2u], b);
    let lo = q4_0_lo(word) * d;
    let hi = q4_0_hi(word) * d;
    let o = 32u * b + 4u * j;
    out[o] = lo.x;
    out[o + 1u] = lo.y;
    out[o + 2u] = lo.z;
    out[o + 3u] = lo.w;
    out[o + 16u] = hi.x;
    out[o + 17u] = hi.y;
    out[o + 18u] = hi.z;
    out[o + 19u] = hi.w;
}
