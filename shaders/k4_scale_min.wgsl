// k4_scale_min: a shared snippet (no bindings, no entry point) that Go
// prepends, before q4_k_raw_quad.wgsl or q5_k_raw_quad.wgsl, to the
// raw-weight kernels: the 6-bit scale and min of a Q4_K or Q5_K sub-block,
// as ggml's get_scale_min_k4 (twin: engine/tensor's scaleMinK4).
// The 12 packed bytes q[0..11] come as three words: bytes 0-3, 4-7, 8-11.
// Sub-blocks 0-3 keep their scale and min in the low 6 bits of q[s] and
// q[s+4]; sub-blocks 4-7 keep a nibble each in q[s+4] and their top 2 bits
// in the top bits of q[s-4] (scale) and q[s] (min).

// k4_scale_min returns (scale, min) of sub-block s (0..7).
fn k4_scale_min(q: vec3<u32>, s: u32) -> vec2<u32> {
    let t = 8u * (s % 4u);
    let b0 = (q.x >> t) & 0xffu; // q[s % 4]
    let b1 = (q.y >> t) & 0xffu; // q[s % 4 + 4]
    let b2 = (q.z >> t) & 0xffu; // q[s % 4 + 8]
    let low = vec2<u32>(b0 & 63u, b1 & 63u);
    let high = vec2<u32>((b2 & 15u) | ((b0 >> 6u) << 4u), (b2 >> 4u) | ((b1 >> 6u) << 4u));
    return select(high, low, s < 4u);
}
