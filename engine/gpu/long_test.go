//go:build !js

package gpu_test

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/gpu/gputest"
)

type spinParams struct{ N, Steps uint32 }

// spin runs testdata/spin.wgsl once over n invocations and returns their
// outputs and the wall time.
func spin(t *testing.T, d *gpu.Device, k *gpu.Kernel, out *gpu.Buffer, n uint32) ([]uint32, time.Duration) {
	t.Helper()
	c, err := k.Call(gpu.Grid{X: (n + 63) / 64, Y: 1, Z: 1}, spinParams{n, spinSteps}, out)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := d.NewRecorder("spin")
	r.Dispatch(c)
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	raw, err := out.Read(0, uint64(4*n))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]uint32, n)
	for i := range vals {
		vals[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return vals, time.Since(start)
}

// spinSteps is the LCG steps per invocation, below lavapipe's loop cut-off.
const spinSteps = 60000

// TestLongDispatch runs one dispatch of about 20 seconds and checks its
// result: waits must outlast wgpu-native's 5-second blocking-wait limit
// (DESIGN.md) because they never block.
func TestLongDispatch(t *testing.T) {
	if testing.Short() {
		t.Skip("long dispatch skipped in -short mode")
	}
	d := gputest.Device(t)
	src, err := os.ReadFile("testdata/spin.wgsl")
	if err != nil {
		t.Fatal(err)
	}
	k, err := d.CompileKernel("spin.wgsl", string(src), gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		t.Fatal(err)
	}
	const maxN = 64 * 65535
	out, err := d.NewBuffer("spin.out", 4*maxN)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Free()
	const probeN = 65536
	_, probe := spin(t, d, k, out, probeN)
	n := uint32(min(maxN, max(probeN, probeN*25/max(probe.Seconds(), 1e-3))))
	got, took := spin(t, d, k, out, n)
	t.Logf("one dispatch of %d invocations x %d LCG steps took %v (probe of %d took %v)", n, spinSteps, took, probeN, probe)
	for _, i := range []uint32{0, 1, n / 2, n - 1} {
		x := i
		for s := 0; s < spinSteps; s++ {
			x = x*1664525 + 1013904223
		}
		if got[i] != x {
			t.Errorf("out[%d] = %d, want %d", i, got[i], x)
		}
	}
	// A fast GPU finishes even the largest grid quickly; the point of the
	// test is the software adapter, where one dispatch outlasts 5 s.
	if took < 6*time.Second && d.Info.IsCPU() {
		t.Errorf("the dispatch took only %v; it must outlast wgpu-native's 5 s wait limit to prove anything", took)
	}
}
