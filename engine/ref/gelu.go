package ref

import "math"

// GeluForward is GELU in its tanh form (gpt2's "gelu_new"):
//
//	out[i] = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), x = inp[i]
//
// Any shape, e.g. the FFN activations (B,T,FFN). Computed in float64
// whatever F is. out may alias inp.
// Twin (not written yet): shaders/gelu_fwd.wgsl.
func GeluForward[F ~float32 | ~float64](out, inp []F) {
	s := math.Sqrt(2 / math.Pi)
	for i := range out {
		x := float64(inp[i])
		out[i] = F(0.5 * x * (1 + math.Tanh(s*(x+0.044715*x*x*x))))
	}
}
