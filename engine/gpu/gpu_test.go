//go:build !js

package gpu_test

import (
	"strings"
	"testing"

	"webpeft/engine/gpu"
	"webpeft/engine/gpu/gputest"
)

type addParams struct{ N, Row uint32 }

func TestAddRoundTrip(t *testing.T) {
	d := gputest.Device(t)
	t.Logf("adapter: %s", d)
	k, err := d.Kernel("add_fwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		t.Fatal(err)
	}
	n := 1000
	a, b := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i], b[i] = float32(i), float32(2*i)
	}
	ba, _ := d.NewBuffer("a", uint64(4*n))
	bb, _ := d.NewBuffer("b", uint64(4*n))
	bo, _ := d.NewBuffer("out", uint64(4*n))
	if err := ba.UploadF32(0, a); err != nil {
		t.Fatal(err)
	}
	bb.UploadF32(0, b)
	c, err := k.Call(gpu.Grid{X: 4, Y: 1, Z: 1}, addParams{uint32(n), 1024}, ba, bb, bo)
	if err != nil {
		t.Fatal(err)
	}
	r := d.NewRecorder("add")
	r.Dispatch(c)
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	got, err := bo.ReadF32(n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != float32(3*i) {
			t.Fatalf("out[%d] = %v, want %v", i, got[i], 3*i)
		}
	}
}

func TestBadWGSLNamesFileAndLine(t *testing.T) {
	d := gputest.Device(t)
	_, err := d.CompileKernel("broken.wgsl", "@compute @workgroup_size(1)\nfn main() {\n  let x = undefined_thing;\n}\n")
	if err == nil {
		t.Fatal("broken WGSL compiled")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "broken.wgsl:3:") {
		t.Errorf("error does not name broken.wgsl:3: %v", err)
	}
}
