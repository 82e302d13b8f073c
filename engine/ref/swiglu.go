package ref

import "math"

// SwiGLUForward is the gate of a SiLU-gated feed-forward layer (llama,
// qwen2), SiLU of the gate projection times the up projection:
//
//	out[i] = silu(gate[i]) * up[i],  silu(x) = x / (1 + exp(-x))
//
// gate, up and out are (B,T,FFN). Computed in float64 whatever F is. out
// may alias gate or up.
// Twin (not written yet): shaders/swiglu_fwd.wgsl.
func SwiGLUForward[F ~float32 | ~float64](out, gate, up []F) {
	for i := range out {
		g := float64(gate[i])
		out[i] = F(g / (1 + math.Exp(-g)) * float64(up[i]))
	}
}
