package ops

import (
	"fmt"
	"strings"

	"webpeft/engine/gpu"
	"webpeft/engine/tensor"
)

// The standard benchmark set (engine/bench, `webpeft bench`, bench.html)
// measures these, at shapes of its choosing, named by (M, K, N): y (M, N)
// from x (M, K) and a weight of K x N.

// PeakBench is fma_peak: the adapter's f32 FMA rate with no memory traffic.
func PeakBench() Bench { return peakBenches()[0] }

// F32MatMulBench measures MatMul variant v on y (M, N) = x (M, K) @ w^T,
// named matmul_f32_<variant>/MxKxN.
func F32MatMulBench(v Variant, M, K, N int) Bench {
	s := mmShape{M: M, N: N, K: K}
	return Bench{
		Name:  fmt.Sprintf("matmul_f32_%v/%dx%dx%d", v, M, K, N),
		Flops: 2 * float64(M) * float64(N) * float64(K),
		Setup: func(d *gpu.Device) (func(int) error, error) { return setupMatMulBench(d, v, s) },
	}
}

// QuantMatMulBench measures the quantized matmul of type t (Q8_0, Q4_0)
// on y (M, N) = x (M, K) @ w^T, K a multiple of 32, named
// matmul_<type>/MxKxN.
func QuantMatMulBench(t tensor.QuantType, M, K, N int) Bench {
	s := mmShape{M: M, N: N, K: K}
	return Bench{
		Name:  fmt.Sprintf("matmul_%s/%dx%dx%d", strings.ToLower(t.String()), M, K, N),
		Flops: 2 * float64(M) * float64(N) * float64(K),
		Setup: func(d *gpu.Device) (func(int) error, error) { return setupQuantBench(d, t, s) },
	}
}

// F32Variants are the f32 matmul variants a suite compares to pick the
// best: register blocking and workgroup tiling (naive is only a baseline).
func F32Variants() []Variant { return []Variant{RegisterBlocked, Tiled} }
