package ref

import "math"

// SwiGLUForward is the gate of a SiLU-gated feed-forward layer (llama,
// qwen2), SiLU of the gate projection times the up projection:
//
//	out[i] = silu(gate[i]) * up[i],  silu(x) = x / (1 + exp(-x))
//
// gate, up and out are (B,T,FFN). Computed in float64 whatever F is. out
// may alias gate or up.
// Twin: shaders/swiglu_fwd.wgsl.
func SwiGLUForward[F ~float32 | ~float64](out, gate, up []F) {
	for i := range out {
		g := float64(gate[i])
		out[i] = F(g / (1 + math.Exp(-g)) * float64(up[i]))
	}
}

// SwiGLUBackward is SwiGLUForward's backward pass, accumulating. With
// sig = 1 / (1 + exp(-gate[i])), so silu(g) = g * sig:
//
//	dgate[i] += dout[i] * up[i] * sig * (1 + gate[i] * (1 - sig))
//	dup[i]   += dout[i] * silu(gate[i])
//
// gate, up, dgate, dup and dout are (B,T,FFN); gate and up are the
// forward's inputs. Either gradient may be nil when not wanted. Computed
// in float64 whatever F is. No gradient may alias an input.
// Twin: shaders/swiglu_bwd.wgsl.
func SwiGLUBackward[F ~float32 | ~float64](dgate, dup, gate, up, dout []F) {
	for i, d := range dout {
		g := float64(gate[i])
		sig := 1 / (1 + math.Exp(-g))
		if dgate != nil {
			dgate[i] += F(float64(d) * float64(up[i]) * sig * (1 + g*(1-sig)))
		}
		if dup != nil {
			dup[i] += F(float64(d) * g * sig)
		}
	}
}
