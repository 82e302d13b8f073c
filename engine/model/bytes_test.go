//go:build !js

package model

import (
	"path/filepath"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/tensor"
)

// fileTensorBytes is the size of m's tensors in their file's types.
func fileTensorBytes(t *testing.T, m *Model) uint64 {
	var n uint64
	for _, x := range m.Spec.Tensors {
		typ, err := tensor.ParseType(x.Type)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := typ.RowBytes(x.RowLen())
		if err != nil {
			t.Fatal(err)
		}
		n += uint64(rb) * uint64(x.Rows())
	}
	return n
}

// TestGPUBytes: the frozen weights take their file's bytes on the GPU (at
// most 5% more for alignment and repacking), and everything else the
// device holds after loading and recording a forward pass is the KV cache
// and the activations of that shape (plus the calls' small parameter
// buffers).
func TestGPUBytes(t *testing.T) {
	d := gputest.Device(t)
	files, _ := filepath.Glob(filepath.Join(referenceDir, "*.gguf"))
	for _, f := range files {
		m, err := Open(f)
		if err != nil {
			t.Fatal(err)
		}
		before := d.Stats().LiveBytes
		g, err := LoadGPU(d, m, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		loaded := d.Stats().LiveBytes - before
		c, err := g.NewCache(1, 64)
		if err != nil {
			t.Fatal(err)
		}
		p, err := g.NewProgram(c, 64, Loss)
		if err != nil {
			t.Fatal(err)
		}
		total := d.Stats().LiveBytes - before
		file := fileTensorBytes(t, m)
		params := total - loaded - c.Bytes() - p.ActivationBytes()
		t.Logf("%s: weights %d bytes on the GPU for %d in the file (x%.4f); T=64 loss program: cache %d, activations %d, call parameters %d",
			filepath.Base(f), g.WeightBytes, file, float64(g.WeightBytes)/float64(file), c.Bytes(), p.ActivationBytes(), params)
		if loaded < g.WeightBytes || loaded > g.WeightBytes+4096 {
			t.Errorf("loading allocated %d bytes for %d bytes of weights", loaded, g.WeightBytes)
		}
		if float64(g.WeightBytes) > 1.05*float64(file) {
			t.Errorf("weights take %d bytes on the GPU, more than 5%% over the file's %d", g.WeightBytes, file)
		}
		if params > 256*uint64(len(p.steps)) {
			t.Errorf("%d bytes besides weights, cache and activations for %d steps", params, len(p.steps))
		}
		p.Free()
		c.Free()
		g.Free()
		m.Close()
		if left := d.Stats().LiveBytes - before; left > 64 {
			t.Errorf("%d bytes still allocated after freeing everything", left)
		}
	}
}
