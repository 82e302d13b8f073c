package ref

import "math"

// GeluForward is GELU in its tanh form (gpt2's "gelu_new"):
//
//	out[i] = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), x = inp[i]
//
// Any shape, e.g. the FFN activations (B,T,FFN). Computed in float64
// whatever F is. out may alias inp.
// Twin: shaders/gelu_fwd.wgsl.
func GeluForward[F ~float32 | ~float64](out, inp []F) {
	s := math.Sqrt(2 / math.Pi)
	for i := range out {
		x := float64(inp[i])
		out[i] = F(0.5 * x * (1 + math.Tanh(s*(x+0.044715*x*x*x))))
	}
}

// GeluBackward is GeluForward's backward pass, accumulating. With
// u = sqrt(2/pi) * (x + 0.044715 * x^3):
//
//	dinp[i] += dout[i] * (0.5 * (1 + tanh(u)) + 0.5 * x * (1 - tanh(u)^2) * du/dx)
//	du/dx    = sqrt(2/pi) * (1 + 3 * 0.044715 * x^2)
//
// Any shape; inp is the forward's input. Computed in float64 whatever F is.
// No gradient may alias an input.
// Twin: shaders/gelu_bwd.wgsl.
func GeluBackward[F ~float32 | ~float64](dinp, inp, dout []F) {
	s := math.Sqrt(2 / math.Pi)
	for i := range dinp {
		x := float64(inp[i])
		th := math.Tanh(s * (x + 0.044715*x*x*x))
		du := s * (1 + 3*0.044715*x*x)
		dinp[i] += F(float64(dout[i]) * (0.5*(1+th) + 0.5*x*(1-th*th)*du))
	}
}
