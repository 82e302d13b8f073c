// Package ops launches webpeft's WGSL kernels. Each op is one Go file that
// builds its kernel(s) from shaders/ and binds them to buffers; its parity
// check against the engine/ref twin lives in the same package as a Case, so
// the very same checks run natively (go test, lavapipe) and in the browser
// (wasm, the site's op-test page).
package ops

import (
	"fmt"
	"time"

	"webpeft/engine/gpu"
)

// Case is one parity check of a GPU kernel against its ref twin.
// Run returns nil when every output is within the case's stated tolerance,
// and otherwise an error that says what differed and where.
type Case struct {
	Name string
	Run  func(d *gpu.Device) error
}

// Cases lists every parity check, in a stable order.
func Cases() []Case {
	var all []Case
	all = append(all, layerCases()...)
	all = append(all, elementwiseCases()...)
	all = append(all, softmaxCases()...)
	all = append(all, sumCases()...)
	all = append(all, matmulCases()...)
	all = append(all, anchorCases()...)
	all = append(all, mlpBlockCases()...)
	all = append(all, quantMatmulCases()...)
	all = append(all, normActCases()...)
	all = append(all, ropeAttentionCases()...)
	all = append(all, embedLossCases()...)
	all = append(all, rawCases()...)
	all = append(all, vocabCases()...)
	all = append(all, biasCases()...)
	all = append(all, matmulBwdCases()...)
	all = append(all, trainOpCases()...)
	all = append(all, backwardCases()...)
	return all
}

// Bench is one throughput measurement. Setup builds buffers and a program
// and returns run, which submits the work iters times and waits; Flops is
// the floating-point work of one iteration.
type Bench struct {
	Name  string
	Flops float64
	Setup func(d *gpu.Device) (run func(iters int) error, err error)
}

// Benches lists the throughput measurements (peak FMA first).
func Benches() []Bench {
	var all []Bench
	all = append(all, peakBenches()...)
	all = append(all, anchorBenches()...)
	all = append(all, matmulBenches()...)
	all = append(all, quantMatmulBenches()...)
	all = append(all, rawBenches()...)
	all = append(all, matmulBwdBenches()...)
	all = append(all, mlpBlockBenches()...)
	return all
}

// Measure runs b until at least minTime has passed (after one warm-up
// iteration) and returns GFLOP/s.
func Measure(d *gpu.Device, b Bench, minTime time.Duration) (gflops float64, err error) {
	run, err := b.Setup(d)
	if err != nil {
		return 0, fmt.Errorf("%s: setup: %w", b.Name, err)
	}
	if err := run(1); err != nil {
		return 0, fmt.Errorf("%s: warm-up: %w", b.Name, err)
	}
	iters := 1
	for {
		start := time.Now()
		if err := run(iters); err != nil {
			return 0, fmt.Errorf("%s: %w", b.Name, err)
		}
		el := time.Since(start)
		if el >= minTime || iters >= 1<<16 {
			return b.Flops * float64(iters) / el.Seconds() / 1e9, nil
		}
		iters *= 2
	}
}
