package ref

import "math"

// RopePairs says which two dimensions of a head one rotary frequency turns.
type RopePairs int

const (
	// RopeInterleaved turns pairs (2i, 2i+1): llama.cpp's "normal" rope,
	// for GGUF llama files, whose Q/K rows are permuted for it.
	RopeInterleaved RopePairs = iota
	// RopeHalf turns pairs (i, i+HS/2): GPT-NeoX style, for Hugging Face
	// checkpoints and GGUF qwen2.
	RopeHalf
)

// RopeForward applies rotary position embeddings to queries or keys:
//
//	angle = pos[b,t] * theta^(-2i/HS), i < HS/2
//	out[x] = inp[x]*cos(angle) - inp[y]*sin(angle)
//	out[y] = inp[x]*sin(angle) + inp[y]*cos(angle)
//
// where (x, y) is pair i of head h at (b,t): (2i, 2i+1) for RopeInterleaved,
// (i, i+HS/2) for RopeHalf. inp and out are (B,T,NH,HS) with HS even, pos
// is (B,T) (the absolute position of each token; 0..T-1 for one fresh
// sequence). Angles, cos, sin and the products are taken in float64
// whatever F is. At position 0 RopeForward is the identity. out may alias
// inp.
// Twin: shaders/rope_fwd.wgsl.
func RopeForward[F ~float32 | ~float64](out, inp []F, pos []int, B, T, NH, HS int, theta float64, pairs RopePairs) {
	half := HS / 2
	for bt := range B * T {
		p := float64(pos[bt])
		for i := range half {
			angle := p * math.Pow(theta, -2*float64(i)/float64(HS))
			sin, cos := math.Sincos(angle)
			for h := range NH {
				base := (bt*NH + h) * HS
				x, y := base+2*i, base+2*i+1
				if pairs == RopeHalf {
					x, y = base+i, base+i+half
				}
				a, b := float64(inp[x]), float64(inp[y])
				out[x] = F(a*cos - b*sin)
				out[y] = F(a*sin + b*cos)
			}
		}
	}
}

// RopeBackward is RopeForward's backward pass. The rotation is orthogonal,
// so its transpose is the rotation by -angle, on the same pairs:
//
//	dinp[x] += dout[x]*cos(angle) + dout[y]*sin(angle)
//	dinp[y] += dout[y]*cos(angle) - dout[x]*sin(angle)
//
// Shapes, pos, theta and pairs as in RopeForward. dinp may be dout itself,
// as the forward may run in place: then there is nothing to accumulate
// into, and the gradient is rotated back in place (dout = R^T dout), as a
// training step does on the dq and dk buffers it rotated forward in place.
// Taken in float64 whatever F is.
// Twin: shaders/rope_bwd.wgsl.
func RopeBackward[F ~float32 | ~float64](dinp, dout []F, pos []int, B, T, NH, HS int, theta float64, pairs RopePairs) {
	inPlace := len(dinp) > 0 && len(dout) > 0 && &dinp[0] == &dout[0]
	half := HS / 2
	for bt := range B * T {
		p := float64(pos[bt])
		for i := range half {
			angle := p * math.Pow(theta, -2*float64(i)/float64(HS))
			sin, cos := math.Sincos(angle)
			for h := range NH {
				base := (bt*NH + h) * HS
				x, y := base+2*i, base+2*i+1
				if pairs == RopeHalf {
					x, y = base+i, base+i+half
				}
				a, b := float64(dout[x]), float64(dout[y])
				dx, dy := a*cos+b*sin, b*cos-a*sin
				if inPlace {
					dinp[x], dinp[y] = F(dx), F(dy)
				} else {
					dinp[x] += F(dx)
					dinp[y] += F(dy)
				}
			}
		}
	}
}
