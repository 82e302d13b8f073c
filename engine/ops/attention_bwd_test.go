//go:build !js

package ops

import (
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
)

// TestAttentionTrainLong runs the training attention at the kernels'
// largest S (2048 keys, 8 key tiles for dq, 16 pair tiles for dkv), where
// lavapipe's 65535-trip loop cut-off would show; about 30 s on
// lavapipe, so not in Cases() (the browser runs those).
func TestAttentionTrainLong(t *testing.T) {
	if testing.Short() {
		t.Skip("long: S = 2048 attention backward")
	}
	d := gputest.Device(t)
	s := AttnShape{B: 1, T: 2043, S: 2048, NH: 2, NKV: 1, HS: 64, Pos0: 5}
	if err := checkAttentionTrain(d, []AttnShape{s}); err != nil {
		t.Error(err)
	}
}

// TestAttnBwdTrips checks that shapes whose backward loops would run past
// the trip budget are refused, and real ones are not.
func TestAttnBwdTrips(t *testing.T) {
	ok := []AttnShape{
		{B: 1, T: 2048, S: 2048, NH: 14, NKV: 2, HS: 64},  // Qwen2.5-0.5B
		{B: 1, T: 2048, S: 2048, NH: 28, NKV: 4, HS: 128}, // Qwen2.5-7B
		{B: 1, T: 2048, S: 2048, NH: 8, NKV: 1, HS: 256},  // Gemma-style
		{B: 4, T: 2000, S: 2048, NH: 32, NKV: 8, HS: 128, Pos0: 48},
	}
	for _, s := range ok {
		if err := checkAttnTrainShape("test", s); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	bad := AttnShape{B: 1, T: 2048, S: 2048, NH: 64, NKV: 1, HS: 256}
	if err := checkAttnTrainShape("test", bad); err == nil || !strings.Contains(err.Error(), "loop trips") {
		t.Errorf("%v: got %v, want a loop-trip error", bad, err)
	}
}
