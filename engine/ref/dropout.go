package ref

// Dropout with a stateless, counter-based random mask: whether element i is
// kept depends only on (seed, i), through a hash, so the GPU kernel and
// this reference draw bit-identical masks, the backward pass redraws the
// forward's mask instead of storing it, and a run resumes exactly from a
// checkpointed seed.

// pcgHash is the PCG-RXS-M-XS permutation of a 32-bit word (Jarzynski and
// Olano, "Hash Functions for GPU Rendering", JCGT 2020): one LCG step, then
// PCG's output permutation. It is a bijection of uint32. All arithmetic
// wraps mod 2^32, as u32 arithmetic does in WGSL.
func pcgHash(x uint32) uint32 {
	state := x*747796405 + 2891336453
	word := ((state >> ((state >> 28) + 4)) ^ state) * 277803737
	return (word >> 22) ^ word
}

// DropoutHash is the random word of element i under seed:
//
//	DropoutHash(seed, i) = pcg(pcg(i) ^ pcg(seed))
//
// For one seed it is a bijection of i (no two elements share a word).
// Twin: fn dropout_hash in shaders/dropout_hash.wgsl.
func DropoutHash(seed, i uint32) uint32 {
	return pcgHash(pcgHash(i) ^ pcgHash(seed))
}

// DropoutThreshold is the keep threshold for a drop probability p in
// [0, 1): element i is kept when DropoutHash(seed, i) >= floor(p * 2^32),
// which happens with probability 1 - p to within 2^-32. p = 0 keeps every
// element.
func DropoutThreshold(p float64) uint32 {
	return uint32(p * (1 << 32))
}

// DropoutKeep reports whether element i survives dropout with probability
// p under seed.
func DropoutKeep(seed, i uint32, p float64) bool {
	return DropoutHash(seed, i) >= DropoutThreshold(p)
}

// DropoutForward zeroes each element with probability p and scales the
// survivors so the expectation is unchanged (inverted dropout):
//
//	out[i] = keep(seed, i) ? inp[i] * F(1/(1-p)) : 0
//
// Any shape (indices are positions in the flat slice), p in [0, 1). The
// product is one F multiply, so on float32 it is bit-identical to the GPU's
// dropout_fwd.wgsl; at p = 0 out is inp. out may alias inp.
// Twin: shaders/dropout_fwd.wgsl (engine/ops.Dropout.Forward).
func DropoutForward[F ~float32 | ~float64](out, inp []F, seed uint32, p float64) {
	t, scale := DropoutThreshold(p), F(1/(1-p))
	for i := range out {
		out[i] = 0
		if DropoutHash(seed, uint32(i)) >= t {
			out[i] = inp[i] * scale
		}
	}
}

// DropoutBackward is DropoutForward's backward pass, accumulating: the
// same mask and scale applied to the gradient,
//
//	dinp[i] += keep(seed, i) ? dout[i] * F(1/(1-p)) : 0
//
// with the seed and p of the forward. No gradient may alias an input.
// Twin: shaders/dropout_bwd.wgsl (engine/ops.Dropout.Backward).
func DropoutBackward[F ~float32 | ~float64](dinp, dout []F, seed uint32, p float64) {
	t, scale := DropoutThreshold(p), F(1/(1-p))
	for i := range dinp {
		if DropoutHash(seed, uint32(i)) >= t {
			dinp[i] += F(dout[i] * scale)
		}
	}
}
