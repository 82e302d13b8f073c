package ref

// LinearForward is a linear layer with an optional bias:
//
//	out (N, OC) = inp (N, C) @ weight^T + bias,  weight (OC, C), bias (OC)
//
// N is B*T rows. bias may be nil. weight is in nn.Linear layout (one row per
// output), as MatMul takes it; sums run in F, k ascending, as in MatMul.
// Twins: MatMul's kernels and shaders/bias_add_fwd.wgsl.
func LinearForward[F ~float32 | ~float64](out, inp, weight, bias []F, N, C, OC int) {
	MatMul(out, inp, weight, N, OC, C)
	if bias == nil {
		return
	}
	for n := range N {
		Add(out[n*OC:(n+1)*OC], out[n*OC:(n+1)*OC], bias)
	}
}

// LinearBackward is LinearForward's backward pass, accumulating:
//
//	dinp (N, C)     += dout (N, OC) @ weight
//	dweight (OC, C) += dout^T @ inp
//	dbias (OC)      += sum over n of dout[n, :]
//
// Any of dinp, dweight and dbias may be nil when not wanted (frozen base
// weights get neither dweight nor dbias). MatMulBackward does the products.
// Twins: shaders/matmul_*_bwd.wgsl (dinp), gemm_rb.wgsl (dweight), colsum_bwd.wgsl (dbias).
func LinearBackward[F ~float32 | ~float64](dinp, dweight, dbias, dout, inp, weight []F, N, C, OC int) {
	MatMulBackward(dinp, dweight, dout, inp, weight, N, OC, C)
	if dbias == nil {
		return
	}
	for o := range OC {
		var s F
		for n := range N {
			s += dout[n*OC+o]
		}
		dbias[o] += s
	}
}
