//go:build !js && !windows

package ops

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/gpu/gputest"
	"webpeft/engine/tensor"
)

// TestMatmulVsAnchor measures the forward matmuls next to the anchor,
// interleaved round by round so that a busy machine slows both alike, and
// logs each one's ratio to the anchor at the same shape. Off unless
// WEBPEFT_MMPERF=1 (it takes minutes on a software adapter):
//
//	WEBPEFT_MMPERF=1 go test ./engine/ops -run VsAnchor -v
//
// WEBPEFT_MMPERF_ROUNDS (default 2) sets the rounds; WEBPEFT_MMPERF_ONLY=f32,q8
// limits the kernels (f32, q8, q4; the anchor always runs);
// WEBPEFT_MMPERF_SHAPES=1024 or 256 limits the shapes. Each figure is
// logged by wall time and by CPU time (see measureCPU).
func TestMatmulVsAnchor(t *testing.T) {
	if os.Getenv("WEBPEFT_MMPERF") != "1" {
		t.Skip("set WEBPEFT_MMPERF=1 to measure")
	}
	d := gputest.Device(t)
	rounds := 2
	if r, err := strconv.Atoi(os.Getenv("WEBPEFT_MMPERF_ROUNDS")); err == nil {
		rounds = r
	}
	only := os.Getenv("WEBPEFT_MMPERF_ONLY")
	want := func(k string) bool { return only == "" || strings.Contains(only, k) }
	for _, s := range benchShapes() {
		if sh := os.Getenv("WEBPEFT_MMPERF_SHAPES"); sh != "" && !strings.Contains(s.String(), sh) {
			continue
		}
		benches := []Bench{AnchorBench(s.M, s.K, s.N)}
		if want("f32") {
			benches = append(benches, F32MatMulBench(BestMatMulVariant(d), s.M, s.K, s.N))
		}
		if want("q8") {
			benches = append(benches, QuantMatMulBench(tensor.Q8_0, s.M, s.K, s.N))
		}
		if want("q4") {
			benches = append(benches, QuantMatMulBench(tensor.Q4_0, s.M, s.K, s.N))
		}
		// Contention only ever slows a kernel down, so each one's best
		// figure over the rounds is the least noisy estimate of its speed.
		best := make([]float64, len(benches))
		bestCPU := make([]float64, len(benches))
		for r := range rounds {
			for i, b := range benches {
				t0 := time.Now()
				if _, err := b.Setup(d); err != nil { // compiles (cached per device) and uploads
					t.Fatal(err)
				}
				if r == 0 {
					t.Logf("%s: first setup (compile) %v", b.Name, time.Since(t0))
				}
				g, err := Measure(d, b, 300*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				c, err := measureCPU(d, b, 300*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				best[i] = max(best[i], g)
				bestCPU[i] = max(bestCPU[i], c)
				t.Logf("round %d %-34s %7.3f GFLOP/s  %7.3f GFLOP/cpu-s", r, b.Name, g, c)
			}
		}
		for i, b := range benches {
			t.Logf("best %-34s %7.3f GFLOP/s  %.2fx anchor; %7.3f GFLOP/cpu-s  %.2fx anchor",
				b.Name, best[i], best[i]/best[0], bestCPU[i], bestCPU[i]/bestCPU[0])
		}
	}
}

// measureCPU is Measure by the process's CPU time (lavapipe's worker
// threads are this process's): on a shared machine it counts the work
// done, not the time waited for a core. GFLOP per CPU-second.
func measureCPU(d *gpu.Device, b Bench, minTime time.Duration) (float64, error) {
	run, err := b.Setup(d)
	if err != nil {
		return 0, err
	}
	if err := run(1); err != nil {
		return 0, err
	}
	for iters := 1; ; iters *= 2 {
		start := cpuTime()
		if err := run(iters); err != nil {
			return 0, err
		}
		el := cpuTime() - start
		if el >= minTime || iters >= 1<<16 {
			return b.Flops * float64(iters) / el.Seconds() / 1e9, nil
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
