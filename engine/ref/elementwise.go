package ref

// Add computes out = a + b element by element:
//
//	out[i] = a[i] + b[i] for i < len(out)
//
// Any shape, e.g. a residual stream (B, T, C). a and b hold at least
// len(out) values; out may alias either of them. On float32 values this is
// one correctly rounded IEEE addition, exactly what the GPU computes.
// Twin: shaders/add_fwd.wgsl (engine/ops.Elementwise.Add).
func Add[F ~float32 | ~float64](out, a, b []F) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// Mul computes out = a * b element by element (the Hadamard product):
//
//	out[i] = a[i] * b[i] for i < len(out)
//
// Any shape, e.g. SwiGLU's silu(gate) * up on (B, T, hidden).
// a and b hold at least len(out) values; out may alias either of them.
// Twin: shaders/mul_fwd.wgsl (engine/ops.Elementwise.Mul).
func Mul[F ~float32 | ~float64](out, a, b []F) {
	for i := range out {
		out[i] = a[i] * b[i]
	}
}

// Scale computes out = s * a:
//
//	out[i] = s * a[i] for i < len(out)
//
// Any shape, e.g. LoRA's alpha/r on its (B, T, C) update. a holds at least
// len(out) values; out may alias it.
// Twin: shaders/scale_fwd.wgsl (engine/ops.Elementwise.Scale).
func Scale[F ~float32 | ~float64](out, a []F, s F) {
	for i := range out {
		out[i] = s * a[i]
	}
}
