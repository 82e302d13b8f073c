package ref

import "math"

// TanhForward is the hyperbolic tangent, the nonlinearity of prefix
// tuning's reparameterisation MLP (PEFT's prefix_projection):
//
//	out[i] = tanh(inp[i])
//
// Any shape, e.g. (P, H). out may alias inp.
// Twin: shaders/tanh_fwd.wgsl.
func TanhForward[F ~float32 | ~float64](out, inp []F) {
	for i := range out {
		out[i] = F(math.Tanh(float64(inp[i])))
	}
}

// TanhBackward is TanhForward's backward pass, accumulating:
//
//	dinp[i] += dout[i] * (1 - tanh(inp[i])^2)
//
// inp is the forward's input (the output is recomputed, as the GPU kernel
// does, so the forward's output need not be kept). No gradient may alias
// an input.
// Twin: shaders/tanh_bwd.wgsl.
func TanhBackward[F ~float32 | ~float64](dinp, inp, dout []F) {
	for i := range dinp {
		y := math.Tanh(float64(inp[i]))
		dinp[i] += F(float64(dout[i]) * (1 - y*y))
	}
}
