//go:build !js

package ops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/tensor"
)

// TestBwdTiledPerf measures both variants (RegisterBlocked and Tiled) of
// the backward products: dX through f32, Q8_0 and Q4_0 weights, and the
// Gemm at the LoRA shapes of matmulBwdBenches and square ones, at the
// SmolLM2 MLP shape (256x1536x576) and one square shape (default 4096^3).
// Off unless WEBPEFT_BWD_TILED_PERF=1: it is for real GPUs (on a software
// adapter the square shape takes minutes):
//
//	WEBPEFT_BWD_TILED_PERF=1 WEBPEFT_BWD_TILED_N=4096 go test ./engine/ops -run BwdTiledPerf -v
func TestBwdTiledPerf(t *testing.T) {
	d, n := perfDevice(t, "WEBPEFT_BWD_TILED_PERF", "WEBPEFT_BWD_TILED_N", 64)
	t.Logf("adapter %s; the engine runs %v", d, BestMatMulVariant(d))
	var benches []Bench
	for _, s := range []mmShape{{256, 1536, 576}, {n, n, n}} {
		for _, wt := range []tensor.Type{tensor.F32, tensor.Q8_0, tensor.Q4_0} {
			for _, v := range []Variant{RegisterBlocked, Tiled} {
				benches = append(benches, dxVariantBench(wt, v, s))
			}
		}
	}
	for _, c := range []struct {
		s      mmShape
		ta, tb bool
	}{{mmShape{256, 8, 576}, false, true}, {mmShape{8, 576, 256}, true, false}, {mmShape{n, n, n}, true, false}} {
		for _, v := range []Variant{RegisterBlocked, Tiled} {
			benches = append(benches, gemmVariantBench(v, c.s, c.ta, c.tb))
		}
	}
	for _, b := range benches {
		g, err := Measure(d, b, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-40s %10.1f GFLOP/s", b.Name, g)
	}
}

// dxVariantBench measures dX (+)= dY @ W through weights of type wt on
// variant v, named matmul_bwd_dx_<type>_<variant>/MxNxK.
func dxVariantBench(wt tensor.Type, v Variant, s mmShape) Bench {
	return Bench{
		Name:  fmt.Sprintf("matmul_bwd_dx_%s_%v/%v", strings.ToLower(wt.String()), v, s),
		Flops: 2 * float64(s.M) * float64(s.N) * float64(s.K),
		Setup: func(d *gpu.Device) (func(int) error, error) { return setupDxVariantBench(d, wt, v, s) },
	}
}

// gemmVariantBench measures variant v of the Gemm, named
// gemm_<op>_<variant>/MxNxK.
func gemmVariantBench(v Variant, s mmShape, transA, transB bool) Bench {
	return Bench{
		Name:  fmt.Sprintf("gemm_%s_%v/%v", gemmOp(transA, transB), v, s),
		Flops: 2 * float64(s.M) * float64(s.N) * float64(s.K),
		Setup: func(d *gpu.Device) (func(int) error, error) { return setupGemmVariantBench(d, v, s, transA, transB) },
	}
}
