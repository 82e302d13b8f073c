// q4_0_element: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q4_0_decode.wgsl, to
// embed_quant_fwd.wgsl. It reads that kernel's quants and scales.

// quant_element returns element j (0..31) of Q4_0 block b: word (j % 16) / 4
// holds it in a low (j < 16) or high nibble.
fn quant_element(b: u32, j: u32) -> f32 {
    let word = quants[b][(j % 16u) / 4u];
    let quad = select(q4_0_lo(word), q4_0_hi(word), j >= 16u);
    return quad[j % 4u] * q4_0_scale(scales[b / 2u], b);
}
