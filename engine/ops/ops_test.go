//go:build !js

package ops_test

import (
	"testing"
	"time"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/ops"
)

// TestParity runs every op's GPU-vs-ref parity case on the native adapter;
// the browser runs the same ops.Cases() through wasm (see wasm/ and site/).
func TestParity(t *testing.T) {
	d := gputest.Device(t)
	t.Logf("adapter: %s", d)
	cases := ops.Cases()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if err := c.Run(d); err != nil {
				t.Error(err)
			}
		})
	}
	t.Logf("%d parity cases on %s", len(cases), d.Info.Name)
}

// BenchmarkKernels reports GFLOP/s for every ops.Benches() entry:
//
//	go test ./engine/ops -run '^$' -bench Kernels -benchtime 1x
func BenchmarkKernels(b *testing.B) {
	d := gputest.Device(b)
	for _, bench := range ops.Benches() {
		b.Run(bench.Name, func(b *testing.B) {
			gflops, err := ops.Measure(d, bench, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(gflops, "GFLOP/s")
		})
	}
}
