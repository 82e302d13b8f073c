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
	if err := checkAttentionTrain(d, []AttnShape{s}, attnWorkgroup); err != nil {
		t.Error(err)
	}
}

// TestAttentionFlashLong runs the flash kernels past the workgroup
// kernels' S <= 2048, at S = 3000 (5 prefix slots), and at HS = 256 where
// the trip budget splits the rows over two forward and dq chunks.
func TestAttentionFlashLong(t *testing.T) {
	if testing.Short() {
		t.Skip("long: S = 3000 attention")
	}
	d := gputest.Device(t)
	for _, s := range []AttnShape{
		{B: 1, T: 2995, S: 3000, NH: 2, NKV: 1, HS: 64, Pos0: 5},
		{B: 1, T: 1600, S: 1600, NH: 1, NKV: 1, HS: 256},
	} {
		if err := checkAttentionTrain(d, []AttnShape{s}, attnFlash); err != nil {
			t.Errorf("%v: %v", s, err)
		}
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
		if err := checkAttnTrainShape("test", s, false); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	bad := AttnShape{B: 1, T: 2048, S: 2048, NH: 64, NKV: 1, HS: 256}
	if err := checkAttnTrainShape("test", bad, false); err == nil || !strings.Contains(err.Error(), "loop trips") {
		t.Errorf("%v: got %v, want a loop-trip error", bad, err)
	}
}

// BenchmarkAttentionTrain times one training attention, forward and
// backward in one submit, on the workgroup-per-row kernels and on the
// flash kernels, at SmolLM2-135M's heads (NH=9, NKV=3, HS=64), B=1, T=S:
//
//	go test ./engine/ops -run '^$' -bench AttentionTrain -benchtime 1x
//
// WEBPEFT_ATTN_S lists the lengths (default 128,512,1024,2048,4096); the
// workgroup kernels stop at 2048, WEBPEFT_ATTN_REPS sets the timed submits
// (default 3, after one warm-up). It reports the fastest; the
// flash threshold (FlashFromCPU, FlashFromGPU) comes from these figures.
func BenchmarkAttentionTrain(b *testing.B) {
	d := gputest.Device(b)
	lengths := []int{128, 512, 1024, 2048, 4096}
	if v := os.Getenv("WEBPEFT_ATTN_S"); v != "" {
		lengths = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			lengths = append(lengths, n)
		}
	}
	reps := 3
	if n, err := strconv.Atoi(os.Getenv("WEBPEFT_ATTN_REPS")); err == nil && n > 0 {
		reps = n
	}
	for _, S := range lengths {
		for _, variant := range []int{attnWorkgroup, attnFlash} {
			if variant == attnWorkgroup && S > attnMaxT {
				continue
			}
			name := fmt.Sprintf("S=%d/%s", S, []string{"workgroup", "flash"}[variant])
			b.Run(name, func(b *testing.B) {
				sec, err := timeAttentionTrain(d, AttnShape{B: 1, T: S, S: S, NH: 9, NKV: 3, HS: 64}, variant, reps)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(sec*1e3, "ms/fwd+bwd")
				fmt.Fprintf(os.Stderr, "attention train %-18s %10.2f ms\n", name, sec*1e3)
			})
		}
	}
}

// timeAttentionTrain returns the fastest of reps submits of one training
// attention (forward, then backward) of shape s on the given kernels.
func timeAttentionTrain(d *gpu.Device, s AttnShape, variant, reps int) (float64, error) {
	a, err := NewAttentionTrain(d)
	if err != nil {
		return 0, err
	}
	defer a.Free()
	if variant == attnFlash {
		a.FlashFrom = 1
	} else {
		a.FlashFrom = FlashFromGPU
	}
	nq, nkv, nl := s.B*s.T*s.NH*s.HS, s.B*s.S*s.NKV*s.HS, s.B*s.NH*s.T
	g := newSeeded(7)
	var bufs []*gpu.Buffer
	defer func() {
		for _, b := range bufs {
			b.Free()
		}
	}()
	for i, n := range []int{nq, nkv, nkv, nq, nq, nl, nq, nkv, nkv} {
		b, err := inputBuffer(d, fmt.Sprint("attention bench ", i), g.next(n, 1))
		if err != nil {
			return 0, err
		}
		bufs = append(bufs, b)
	}
	q, k, v, dout, out, lse, dq, dk, dv := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5], bufs[6], bufs[7], bufs[8]
	fwd, err := a.Forward(out, lse, q, k, v, s)
	if err != nil {
		return 0, err
	}
	defer fwd.Free()
	bwd, err := a.Backward(dq, dk, dv, dout, q, k, v, out, lse, s)
	if err != nil {
		return 0, err
	}
	defer bwd.Free()
	r := d.NewRecorder("attention bench")
	fwd.Record(r)
	bwd.Record(r)
	best := 0.0
	for i := 0; i <= reps; i++ { // the first submit warms up
		start := time.Now()
		if err := r.Submit(); err != nil {
			return 0, err
		}
		if err := d.Wait(); err != nil {
			return 0, err
		}
		if sec := time.Since(start).Seconds(); i > 0 && (best == 0 || sec < best) {
			best = sec
		}
	}
	return best, nil
}

// TestFlashChunks checks that the flash kernels' spans cover every key
// and query once, in order, each within the loop-trip budget, for real
// shapes, a long one and HS = 256, and that a budget too small for one
// block is refused.
func TestFlashChunks(t *testing.T) {
	for _, s := range []AttnShape{
		{B: 1, T: 128, S: 128, NH: 9, NKV: 3, HS: 64},       // SmolLM2-135M
		{B: 1, T: 2048, S: 2048, NH: 14, NKV: 2, HS: 64},    // Qwen2.5-0.5B
		{B: 1, T: 32768, S: 32768, NH: 32, NKV: 8, HS: 128}, // long
		{B: 1, T: 1600, S: 1605, NH: 8, NKV: 1, HS: 256, Pos0: 5},
	} {
		hs4, group := s.HS/4, s.NH/s.NKV
		for _, c := range []struct {
			what            string
			n, fixed, block int
			spans           func(string, AttnShape, int) ([]flashSpan, error)
		}{
			{"keys", s.S, 3*hs4 + 8, 2*hs4 + 1, flashFwdChunks},
			{"queries", s.T, 4*hs4 + group + 8, group * (2*hs4 + 1), flashDKVChunks},
		} {
			spans, err := c.spans("test", s, attnMaxTrips)
			if err != nil {
				t.Fatalf("%v %s: %v", s, c.what, err)
			}
			next := 0
			for _, sp := range spans {
				trips := c.fixed + (sp.hi-sp.lo+flashKB-1)/flashKB*c.block
				if sp.lo != next || sp.hi <= sp.lo || trips > attnMaxTrips {
					t.Errorf("%v %s: span [%d,%d) after %d, %d trips", s, c.what, sp.lo, sp.hi, next, trips)
				}
				next = sp.hi
			}
			if next != c.n {
				t.Errorf("%v %s: spans end at %d, want %d", s, c.what, next, c.n)
			}
		}
	}
	if _, err := flashChunks("test", 10, 100, 50, 120); err == nil || !strings.Contains(err.Error(), "loop trips") {
		t.Errorf("a budget under one block: got %v, want a loop-trip error", err)
	}
}
