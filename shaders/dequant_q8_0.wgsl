// dequant_q8_0: out[i] = dequant(w)[i] for the N*K weights of a packed Q8_0
// matrix, through the same decode functions as matmul_quant_rb_fwd. Used only by
// the parity tests, to prove the in-kernel decode bit-exact.
// Twin: engine/tensor.Decode (engine/ops.Dequant).
// Include: f16_decode.wgsl, q8_0_decode.wgsl.
// Bindings: quants (N*K/16 vec4<u32>) read, scales (ceil(N*K/64) u32) read,
// out (N*K) read_write, Params.
// One invocation per quant word (4 weights): word i = gid.y * params.row + gid.x
// of params.words; the grid may be 2-D when that needs more than 65535 workgroups.

const WG: u32 = 64u;

struct Params {
    words: u32, // N*K/4
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
    let b = i / 8u; // block: 8 words of 4 quants
    let v = q8_0_quad(quants[i / 4u][i % 4u]) * q8_0_scale(scales[b / 2u], b);
    out[4u * i] = v.x;
    out[4u * i + 1u] = v.y;
    out[4u * i + 2u] = v.z;
    out[4u * i + 3u] = v.w;
}
