package ops

import (
	"fmt"
	"math"
	"strings"

	"webpeft/engine/gpu"
)

// Tol is a per-element tolerance: |got-want| <= Abs + Rel*|want|
// (llm.c's validate_result, gonum's EqualWithinAbsOrRel in one).
type Tol struct{ Abs, Rel float64 }

func (t Tol) String() string { return fmt.Sprintf("|d| <= %g + %g*|want|", t.Abs, t.Rel) }

// Exact is the tolerance for results that must match bit for bit.
var Exact = Tol{}

// Close checks got against want element by element within tol. Its error
// names the worst element and the first few mismatches.
func Close(what string, got, want []float32, tol Tol) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d values, want %d", what, len(got), len(want))
	}
	var bad []string
	worst, worstAt, nbad := 0.0, -1, 0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		diff := math.Abs(g - w)
		if math.IsNaN(g) != math.IsNaN(w) || diff > tol.Abs+tol.Rel*math.Abs(w) || math.IsInf(g, 0) != math.IsInf(w, 0) {
			nbad++
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("[%d] got %g want %g", i, g, w))
			}
		}
		if diff > worst || math.IsNaN(diff) && worstAt < 0 {
			worst, worstAt = diff, i
		}
	}
	if nbad == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d of %d values outside %v (max |d| %g at %d): %s",
		what, nbad, len(want), tol, worst, worstAt, strings.Join(bad, "; "))
}

// guard is the number of float32 guard words on each side of a guarded
// output buffer, and guardValue their content (a NaN no kernel produces).
const guard = 64

var guardValue = math.Float32frombits(0x7fc0dead)

// Guarded is an output buffer with guard bands (gonum's guardVector): the
// kernel gets a view of the middle n values, and Check proves nothing was
// written outside it.
type Guarded struct {
	All  *gpu.Buffer // guard + n + guard float32s
	View *gpu.Buffer // the n values the kernel may write
	N    int
}

// NewGuarded allocates an output of n float32s between two guard bands,
// the middle filled with init (or zeros when init is nil).
func NewGuarded(d *gpu.Device, label string, n int, init []float32) (*Guarded, error) {
	all, err := d.NewBuffer(label+".guarded", uint64(4*(n+2*guard)))
	if err != nil {
		return nil, err
	}
	fill := make([]float32, n+2*guard)
	for i := range fill {
		fill[i] = guardValue
	}
	for i := 0; i < n; i++ {
		fill[guard+i] = 0
		if init != nil {
			fill[guard+i] = init[i]
		}
	}
	if err := all.UploadF32(0, fill); err != nil {
		return nil, err
	}
	view, err := all.View(label, 4*guard, uint64(4*n))
	if err != nil {
		return nil, err
	}
	return &Guarded{All: all, View: view, N: n}, nil
}

// Read returns the n values and an error if any guard word changed.
func (g *Guarded) Read() ([]float32, error) {
	all, err := g.All.ReadF32(g.N + 2*guard)
	if err != nil {
		return nil, err
	}
	for i, v := range all {
		if (i < guard || i >= guard+g.N) && math.Float32bits(v) != math.Float32bits(guardValue) {
			return nil, fmt.Errorf("%s: write outside the output at guard word %d (value %g)", g.View.Label, i-guard, v)
		}
	}
	return all[guard : guard+g.N], nil
}

// Free releases the buffer.
func (g *Guarded) Free() { g.All.Free() }
