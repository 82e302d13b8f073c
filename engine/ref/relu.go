package ref

// ReLUForward is the rectified linear unit, the nonlinearity between a
// bottleneck adapter's down and up projections:
//
//	out[i] = max(inp[i], 0)
//
// Any shape, e.g. (B,T,R). out may alias inp.
// Twin: shaders/relu_fwd.wgsl.
func ReLUForward[F ~float32 | ~float64](out, inp []F) {
	for i := range out {
		out[i] = max(inp[i], 0)
	}
}

// ReLUBackward is ReLUForward's backward pass, accumulating:
//
//	dinp[i] += dout[i] if inp[i] > 0, else nothing
//
// inp is the forward's input. At inp[i] = 0, where ReLU has no derivative,
// the gradient is 0, as in PyTorch. No gradient may alias an input.
// Twin: shaders/relu_bwd.wgsl.
func ReLUBackward[F ~float32 | ~float64](dinp, inp, dout []F) {
	for i := range dinp {
		if inp[i] > 0 {
			dinp[i] += dout[i]
		}
	}
}
