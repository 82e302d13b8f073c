package ref

// Sum returns the total of x, accumulated in float64 whatever F is: on
// float32 inputs it is the accurate reference that GPU f32 reductions are
// held against.
//
//	Sum(x) = sum over i of x[i]
//
// Backward: dx[i] += dsum for every i; no function of its own.
// Twin: shaders/sum_partial.wgsl + sum_final.wgsl (engine/ops.Sum).
func Sum[F ~float32 | ~float64](x []F) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}
