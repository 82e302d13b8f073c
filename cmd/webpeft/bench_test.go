package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"webpeft/engine/gpu/gputest"
)

// TestBenchJSON runs `webpeft bench --json --quick` (tiny shapes, a tiny
// model) on the test adapter and checks that its one JSON object has every
// key of the standard set, with the matmul figures keyed by MxKxN.
func TestBenchJSON(t *testing.T) {
	gputest.Device(t) // skip, or fail under CI, without an adapter
	var out bytes.Buffer
	if err := run([]string{"bench", "--json", "--quick"}, &out); err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"adapter", "peak_gflops", "prefill_tokens_per_s", "decode_tokens_per_s",
		"train_tokens_per_s", "train_matmul_time_fraction", "peak_gpu_bytes", "dispatches_per_step", "submits_per_step"} {
		v, ok := r[k]
		if !ok {
			t.Errorf("no %q in %s", k, out.String())
			continue
		}
		if f, isNum := v.(float64); isNum && !(f > 0) && k != "train_matmul_time_fraction" {
			t.Errorf("%s = %v, want > 0", k, f)
		}
	}
	if f, _ := r["train_matmul_time_fraction"].(float64); f < 0 || f > 1 {
		t.Errorf("train_matmul_time_fraction = %v, want 0..1", f)
	}
	if v, _ := r["matmul_f32_variant"].(string); v == "" {
		t.Errorf("no matmul_f32_variant")
	}
	for _, k := range []string{"anchor_matmul_gflops", "matmul_f32_gflops", "matmul_q8_0_gflops", "matmul_q4_0_gflops"} {
		m, ok := r[k].(map[string]any)
		if !ok {
			t.Errorf("%s is not an object: %v", k, r[k])
			continue
		}
		for _, shape := range []string{"64x64x64", "32x64x96"} { // MxKxN of the quick shapes
			if g, _ := m[shape].(float64); !(g > 0) {
				t.Errorf("%s[%q] = %v, want GFLOP/s > 0", k, shape, m[shape])
			}
		}
	}
}
