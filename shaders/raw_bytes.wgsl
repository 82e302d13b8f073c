// raw_bytes: a shared snippet (no bindings, no entry point) that Go
// prepends, after f16_decode.wgsl, to the kernels that read frozen weights
// as their GGUF file's bytes (matmul_raw_rb_fwd, embed_raw_fwd): how to
// address bytes in the kernel's w: array<u32>. w holds the N rows of a
// row-major (N, K) tensor, concatenated, padded at the end to a multiple
// of 4 bytes; byte b is (w[b/4] >> 8*(b%4)) & 0xff (little-endian). Block
// sizes of 18, 22 or 210 bytes leave blocks at even, not 4-aligned,
// offsets, so a 4-byte field may straddle two words; every f16 sits at an
// even offset and so within one word.

// raw_byte returns byte b of w.
fn raw_byte(b: u32) -> u32 {
    return (w[b / 4u] >> (8u * (b % 4u))) & 0xffu;
}

// raw_u16 returns the little-endian u16 at byte b of w (b even).
fn raw_u16(b: u32) -> u32 {
    return (w[b / 4u] >> (8u * (b % 4u))) & 0xffffu;
}

// raw_f16 returns the f16 at byte b of w (b even), as f32.
fn raw_f16(b: u32) -> f32 {
    return f16_to_f32(raw_u16(b));
}

// raw_word returns the 4 bytes at byte b of w (b even) as one
// little-endian u32: one load when b is 4-aligned, two when it straddles.
fn raw_word(b: u32) -> u32 {
    let lo = w[b / 4u];
    if (b % 4u == 0u) {
        return lo;
    }
    return (lo >> 16u) | (w[b / 4u + 1u] << 16u);
}

// raw_bytes4 splits a word of 4 bytes into its bytes, byte i in component i.
fn raw_bytes4(word: u32) -> vec4<u32> {
    return (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// raw_block returns the byte offset in w of the block holding element k
// of row row, for blocks of len values in size bytes and rows of params.k
// values (a whole number of blocks).
fn raw_block(row: u32, k: u32, len: u32, size: u32) -> u32 {
    return (row * (params.k / len) + k / len) * size;
}

// raw_nibbles returns the low (hi false) or high nibbles of a word's 4 bytes.
fn raw_nibbles(word: u32, hi: bool) -> vec4<u32> {
    return (raw_bytes4(word) >> vec4<u32>(select(0u, 4u, hi))) & vec4<u32>(15u);
}

// raw_bits returns bits first..first+3 of word, one per component
// (first <= 28).
fn raw_bits(word: u32, first: u32) -> vec4<u32> {
    return (vec4<u32>(word) >> (vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
}
