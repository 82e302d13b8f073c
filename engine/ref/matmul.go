package ref

// MatMul computes y = x @ w^T, the forward pass of a bias-free linear layer:
//
//	y (M, N) = x (M, K) @ w^T, w (N, K)
//	y[m*N+n] = sum over k of x[m*K+k] * w[n*K+k]
//
// All matrices are row-major. w is stored as nn.Linear and GGUF store a
// weight: one row per output feature, contiguous along K (the direction
// quantized blocks run in). Sums run in the element type, k ascending, so
// MatMul[float64] on float32 inputs is the accurate reference for GPU f32
// results. y is overwritten; len(y) >= M*N, len(x) >= M*K, len(w) >= N*K.
// Twins: shaders/matmul_*_fwd.wgsl (engine/ops.MatMul, engine/ops.QuantMatMul).
func MatMul[T ~float32 | ~float64](y, x, w []T, M, N, K int) {
	for m := range M {
		xr := x[m*K : (m+1)*K]
		for n := range N {
			wr := w[n*K : (n+1)*K]
			var s T
			for k, xv := range xr {
				s += xv * wr[k]
			}
			y[m*N+n] = s
		}
	}
}

// MatMulBackward is MatMul's backward pass, accumulating into dx and dw:
//
//	dx (M, K) += dy (M, N) @ w,    dx[m*K+k] += sum over n of dy[m*N+n] * w[n*K+k]
//	dw (N, K) += dy^T @ x (M, K),  dw[n*K+k] += sum over m of dy[m*N+n] * x[m*K+k]
//
// Either of dx and dw may be nil when not wanted: a frozen (quantized)
// weight gets no dw, the first layer's input no dx. Each sum runs in F, in
// ascending index, into a fresh total that is then added once, so the
// result does not depend on what the buffer held. No gradient may alias an
// input.
// Twins: shaders/matmul_*_rb_bwd.wgsl (dx through frozen weights), gemm_rb.wgsl (dw of f32 weights).
func MatMulBackward[T ~float32 | ~float64](dx, dw, dy, x, w []T, M, N, K int) {
	if dx != nil {
		for m := range M {
			dyr := dy[m*N : (m+1)*N]
			for k := range K {
				var s T
				for n, d := range dyr {
					s += d * w[n*K+k]
				}
				dx[m*K+k] += s
			}
		}
	}
	if dw != nil {
		for n := range N {
			for k := range K {
				var s T
				for m := range M {
					s += dy[m*N+n] * x[m*K+k]
				}
				dw[n*K+k] += s
			}
		}
	}
}
