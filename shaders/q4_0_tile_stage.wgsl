// q4_0_tile_stage: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q4_0_decode.wgsl, to
// matmul_quant_tiled_fwd.wgsl and matmul_quant_tiled_bwd.wgsl: how they
// decode Q4_0 blocks while staging them in workgroup memory. It reads the
// kernel's quants (bound there as array<u32>: block b's 16 quant bytes are
// words 4b..4b+3) and scales, and returns the kernel's WPart.

// wpart returns quarter p (0..3) of block b decoded: the 8 elements of its
// quant word p, 4p..4p+3 (low nibbles) and 4p+16..4p+19 (high nibbles), so
// 4 invocations read a block's 16 bytes once.
fn wpart(b: u32, p: u32) -> WPart {
    let d = q4_0_scale(scales[b / 2u], b);
    let word = quants[4u * b + p];
    return WPart(q4_0_lo(word) * d, q4_0_hi(word) * d, 4u * p, 4u * p + 16u);
}
