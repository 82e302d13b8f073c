// q8_0_element: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q8_0_decode.wgsl, to
// embed_quant_fwd.wgsl. It reads that kernel's quants and scales.

// quant_element returns element j (0..31) of Q8_0 block b.
fn quant_element(b: u32, j: u32) -> f32 {
    let quad = q8_0_quad(quants[2u * b + j / 16u][(j % 16u) / 4u]);
    return quad[j % 4u] * q8_0_scale(scales[b / 2u], b);
}
