// quant_tile_part: a shared snippet (no bindings, no entry point) that Go
// prepends, before the type's <type>_tile_stage.wgsl, to the workgroup-tiled
// quantized kernels (matmul_quant_tiled_fwd, matmul_quant_tiled_bwd).

// WPart is 8 decoded weights of one w row's block, as wpart returns them:
// lo at k = klo..klo+3 of the block, hi at k = khi..khi+3.
struct WPart {
    lo: vec4<f32>,
    hi: vec4<f32>,
    klo: u32,
    khi: u32,
}
