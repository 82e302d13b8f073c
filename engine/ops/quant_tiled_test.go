//go:build !js

package ops

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/gpu/gputest"
	"webpeft/engine/tensor"
)

// TestQuantTiledPerf measures both quantized matmul variants (Tiled and
// RegisterBlocked), what QuantMatMul.Call picks on this adapter, and the
// f32 Tiled kernel as the baseline, at one square shape (default 4096^3,
// the real-GPU figure of BENCHMARKS.md). Off unless WEBPEFT_QTILED_PERF=1:
// it is for real GPUs (on a software adapter the register-blocked kernel
// alone takes minutes at that size):
//
//	WEBPEFT_QTILED_PERF=1 WEBPEFT_QTILED_N=4096 go test ./engine/ops -run QuantTiledPerf -v
func TestQuantTiledPerf(t *testing.T) {
	d, n := perfDevice(t, "WEBPEFT_QTILED_PERF", "WEBPEFT_QTILED_N", 32)
	s := mmShape{M: n, N: n, K: n}
	t.Logf("adapter %s; QuantMatMul.Call runs %v", d, BestMatMulVariant(d))
	benches := []Bench{F32MatMulBench(Tiled, n, n, n)}
	for _, qt := range quantTypes() {
		benches = append(benches, QuantMatMulBench(qt, n, n, n)) // as engine/bench measures it
		for _, v := range []Variant{Tiled, RegisterBlocked} {
			benches = append(benches, quantVariantBench(qt, v, s))
		}
	}
	for _, b := range benches {
		g, err := Measure(d, b, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-36s %10.1f GFLOP/s", b.Name, g)
	}
}

// quantVariantBench measures variant v of the quantized matmul of type
// qt, named matmul_<type>_<variant>/MxKxN.
func quantVariantBench(qt tensor.QuantType, v Variant, s mmShape) Bench {
	return Bench{
		Name:  fmt.Sprintf("matmul_%s_%v/%dx%dx%d", strings.ToLower(qt.String()), v, s.M, s.K, s.N),
		Flops: 2 * float64(s.M) * float64(s.N) * float64(s.K),
		Setup: func(d *gpu.Device) (func(int) error, error) { return setupQuantVariantBench(d, qt, s, v) },
	}
}

// perfDevice skips t unless the environment variable on is "1" (the
// real-GPU measurements are minutes long on a software adapter), opens the
// test device, and returns the square size to measure: the variable size
// when it is a positive multiple of multiple, else 4096.
func perfDevice(t *testing.T, on, size string, multiple int) (*gpu.Device, int) {
	if os.Getenv(on) != "1" {
		t.Skipf("set %s=1 to measure", on)
	}
	n := 4096
	if v, err := strconv.Atoi(os.Getenv(size)); err == nil && v > 0 && v%multiple == 0 {
		n = v
	}
	return gputest.Device(t), n
}
