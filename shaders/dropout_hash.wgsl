// dropout_hash: a shared snippet (no bindings, no entry point) that Go
// prepends to dropout_fwd.wgsl and dropout_bwd.wgsl: the stateless,
// counter-based random word of element i under a seed,
//   dropout_hash(seed, i) = pcg(pcg(i) ^ pcg(seed)),
// pcg the PCG-RXS-M-XS permutation of a u32 (Jarzynski and Olano, "Hash
// Functions for GPU Rendering", JCGT 2020). u32 arithmetic wraps mod 2^32.
// Twin, bit for bit: engine/ref.DropoutHash.

fn pcg(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn dropout_hash(seed: u32, i: u32) -> u32 {
    return pcg(pcg(i) ^ pcg(seed));
}
