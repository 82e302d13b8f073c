// iq4_nl_raw_quad: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and raw_bytes.wgsl, to the raw-weight
// kernels (matmul_raw_rb_fwd, embed_raw_fwd) for IQ4_NL weights (GGUF
// type 20). wquad(row, k) = elements k..k+3 (k % 4 == 0) of weight row row
// as f32, exactly as ggml's dequantize_row_iq4_nl (twin:
// engine/tensor.Decode). It reads the kernel's w and params.k.
// Layout: 18-byte blocks of 32 values (at even offsets): f16 d, then 16
// bytes of 4-bit indices laid out as Q4_0's nibbles. x = d * level[q],
// exact in f32.

// IQ4_NL_LEVELS is ggml's kvalues_iq4nl, 16 int8 levels packed 4 per word
// (level i is byte i % 4 of word i / 4): selecting in registers rather
// than indexing a const array, which may be copied to scratch memory.
const IQ4_NL_LEVELS = vec4<u32>(0xbfad9881u, 0xf6eaddcfu, 0x26190d01u, 0x71594535u);

// iq4_nl_level returns level[q] for 4 indices q < 16.
fn iq4_nl_level(q: vec4<u32>) -> vec4<f32> {
    let l = IQ4_NL_LEVELS;
    let low = select(vec4<u32>(l.x), vec4<u32>(l.y), q >= vec4<u32>(4u));
    let high = select(vec4<u32>(l.z), vec4<u32>(l.w), q >= vec4<u32>(12u));
    let word = select(low, high, q >= vec4<u32>(8u));
    // byte q % 4 to the top, then an arithmetic shift back sign-extends it
    let top = word << (vec4<u32>(24u) - 8u * (q % vec4<u32>(4u)));
    return vec4<f32>(bitcast<vec4<i32>>(top) >> vec4<u32>(24u));
}

fn wquad(row: u32, k: u32) -> vec4<f32> {
    let o = raw_block(row, k, 32u, 18u);
    let j = k % 32u;
    let q = raw_nibbles(raw_word(o + 2u + j % 16u), j >= 16u);
    return raw_f16(o) * iq4_nl_level(q);
}
