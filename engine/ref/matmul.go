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
