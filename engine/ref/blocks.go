package ref

// SplitBlocksForward regroups the columns of a row-major (rows, G*W)
// matrix into G blocks of (rows, W), block g starting at out[g*stride]
// (stride >= rows*W leaves room to align each block):
//
//	out[g*stride + r*W + w] = inp[r*G*W + g*W + w]
//
// Prefix tuning's reparameterisation MLP produces (P, L*2*KV) rows, one
// (P, KV) block per layer's keys or values.
// Twin: shaders/split_blocks_fwd.wgsl.
func SplitBlocksForward[F ~float32 | ~float64](out, inp []F, rows, G, W, stride int) {
	for r := 0; r < rows; r++ {
		for g := 0; g < G; g++ {
			copy(out[g*stride+r*W:][:W], inp[(r*G+g)*W:][:W])
		}
	}
}

// SplitBlocksBackward is SplitBlocksForward's backward pass,
// accumulating: dinp[r*G*W + g*W + w] += dout[g*stride + r*W + w].
// Twin: shaders/split_blocks_bwd.wgsl.
func SplitBlocksBackward[F ~float32 | ~float64](dinp, dout []F, rows, G, W, stride int) {
	for r := 0; r < rows; r++ {
		for g := 0; g < G; g++ {
			for w := 0; w < W; w++ {
				dinp[(r*G+g)*W+w] += dout[g*stride+r*W+w]
			}
		}
	}
}
