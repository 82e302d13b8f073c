package ops

import (
	"math/rand/v2"

	"webpeft/engine/gpu"
)

// Helpers shared by the parity cases: seeded inputs, guarded outputs, and
// one recorder per case.

// seeded draws reproducible float32 inputs.
type seeded struct{ r *rand.Rand }

func newSeeded(seed uint64) seeded { return seeded{rand.New(rand.NewPCG(seed, 0x5eed))} }

// next returns n values uniform in [-r, r).
func (s seeded) next(n int, r float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (2*s.r.Float32() - 1) * r
	}
	return v
}

// ints returns n whole numbers uniform in -k..k.
func (s seeded) ints(n, k int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s.r.IntN(2*k+1) - k)
	}
	return v
}

// seededF32 returns n values uniform in [-r, r) drawn from seed.
func seededF32(seed uint64, n int, r float32) []float32 { return newSeeded(seed).next(n, r) }

// inputBuffer uploads v into a new buffer.
func inputBuffer(d *gpu.Device, label string, v []float32) (*gpu.Buffer, error) {
	b, err := d.NewBuffer(label, 4*uint64(len(v)))
	if err != nil {
		return nil, err
	}
	if err := b.UploadF32(0, v); err != nil {
		b.Free()
		return nil, err
	}
	return b, nil
}

// newGuardeds makes one guarded output of n float32s per label.
func newGuardeds(d *gpu.Device, n int, labels ...string) ([]*Guarded, error) {
	var gs []*Guarded
	for _, l := range labels {
		g, err := NewGuarded(d, l, n, nil)
		if err != nil {
			freeGuardeds(gs)
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, nil
}

func freeGuardeds(gs []*Guarded) {
	for _, g := range gs {
		g.Free()
	}
}

// checkGuardeds reads every output (proving its guard bands intact) and
// compares it with want.
func checkGuardeds(gs []*Guarded, want [][]float32, tol Tol) error {
	for i, g := range gs {
		got, err := g.Read()
		if err != nil {
			return err
		}
		if err := Close(g.View.Label, got, want[i], tol); err != nil {
			return err
		}
	}
	return nil
}

// recording collects calls into one recorder and keeps the first error, so
// a case lists its calls without an error check after each:
// rec.dispatch(e.Add(out, a, b, n)).
type recording struct {
	r   *gpu.Recorder
	err error
}

func newRecording(d *gpu.Device, label string) *recording {
	return &recording{r: d.NewRecorder(label)}
}

func (rec *recording) dispatch(c *gpu.Call, err error) {
	if rec.err == nil && err != nil {
		rec.err = err
	}
	if rec.err == nil {
		rec.r.Dispatch(c)
	}
}

// submit submits everything recorded as one submit, or returns the first
// error met while recording.
func (rec *recording) submit() error {
	if rec.err != nil {
		return rec.err
	}
	return rec.r.Submit()
}
