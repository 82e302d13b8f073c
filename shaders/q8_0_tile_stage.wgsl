// q8_0_tile_stage: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl and q8_0_decode.wgsl, to
// matmul_quant_tiled_fwd.wgsl and matmul_quant_tiled_bwd.wgsl: how they
// decode Q8_0 blocks while staging them in workgroup memory. It reads the
// kernel's quants (bound there as array<u32>: block b's 32 int8 quants are
// words 8b..8b+7) and scales, and returns the kernel's WPart.

// wpart returns quarter p (0..3) of block b decoded: elements 8p..8p+7,
// from two neighbouring quant words (4 invocations read a block's 32 bytes).
fn wpart(b: u32, p: u32) -> WPart {
    let d = q8_0_scale(scales[b / 2u], b);
    let i = 8u * b + 2u * p;
    return WPart(q8_0_quad(quants[i]) * d, q8_0_quad(quants[i + 1u]) * d, 8u * p, 8u * p + 4u);
}
