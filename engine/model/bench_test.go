//go:build !js

package model

import (
	"os"
	"strconv"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/tensor"
)

// BenchmarkForward times prefill (256 tokens) and decode on a random
// SmolLM2-135M-shaped model in Q8_0 and Q4_0, and the CPU reference:
//
//	go test ./engine/model -run '^$' -bench Forward -benchtime 1x
//
// WEBPEFT_BENCH_DECODE sets the decode steps (default 16).
func BenchmarkForward(b *testing.B) {
	decode := 16
	if v, err := strconv.Atoi(os.Getenv("WEBPEFT_BENCH_DECODE")); err == nil && v > 0 {
		decode = v
	}
	d := gputest.Device(b)
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0} {
		b.Run("gpu-"+typ.String(), func(b *testing.B) {
			r, err := BenchForward(d, SmolLM2Shape(typ), 256, decode)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PrefillTokS, "prefill-tok/s")
			b.ReportMetric(r.PrefillGFLOPS, "prefill-GFLOP/s")
			b.ReportMetric(r.DecodeTokS, "decode-tok/s")
			b.ReportMetric(r.DecodeGFLOPS, "decode-GFLOP/s")
			b.ReportMetric(float64(r.PeakBytes)/(1<<20), "peak-MiB")
		})
		b.Run("cpu-ref-"+typ.String(), func(b *testing.B) {
			r, err := BenchReference(SmolLM2Shape(typ), 32)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PrefillTokS, "prefill32-tok/s")
			b.ReportMetric(r.PrefillGFLOPS, "prefill-GFLOP/s")
			b.ReportMetric(r.DecodeTokS, "1-token-tok/s")
		})
	}
}
