package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// CrossEntropy launches crossentropy_fwd.wgsl: the numerically stable
// cross-entropy loss of each row of logits against its target class, one
// workgroup per row. The kernel is built once, in NewCrossEntropy.
type CrossEntropy struct {
	d *gpu.Device
	k *gpu.Kernel
}

// xentMaxCols keeps each of the kernel's column loops at no more than 16384
// trips per invocation, far below lavapipe's 65535 cut-off.
const xentMaxCols = 256 * 16384

type xentParams struct{ Rows, Cols uint32 }

// NewCrossEntropy builds the cross-entropy kernel on d.
func NewCrossEntropy(d *gpu.Device) (*CrossEntropy, error) {
	k, err := d.Kernel("crossentropy_fwd.wgsl", rowReduce, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &CrossEntropy{d: d, k: k}, nil
}

// NewTargets uploads target class ids into a new u32 buffer: -1 masks a
// row (uploaded as 0xFFFFFFFF), and any other id outside 0..V-1 is refused.
func NewTargets(d *gpu.Device, label string, targets []int, V int) (*gpu.Buffer, error) {
	return uploadIDs(d, label, targets, V, true)
}

// Call returns the call losses[r] = logsumexp(logits[r, :]) - logits[r, t_r]
// for r < rows (ref.CrossEntropyForward): logits are (rows, cols)
// row-major, targets rows u32 ids, losses rows float32s. A target of
// 0xFFFFFFFF (-1) masks its row (loss 0); the kernel treats any id >= cols
// the same way, so it never reads outside the row.
func (x *CrossEntropy) Call(losses, logits, targets *gpu.Buffer, rows, cols int) (*gpu.Call, error) {
	if cols <= 0 || cols > xentMaxCols {
		return nil, fmt.Errorf("ops: %s: %d columns is outside 1..%d", x.k.Name, cols, xentMaxCols)
	}
	if rows <= 0 || rows > maxElems/cols {
		return nil, fmt.Errorf("ops: %s: %d rows of %d columns: too many or none", x.k.Name, rows, cols)
	}
	if err := needFloats(x.k.Name+" logits", rows*cols, logits); err != nil {
		return nil, err
	}
	if err := needFloats(x.k.Name+" losses", rows, losses); err != nil {
		return nil, err
	}
	if err := needIDs(x.k.Name, rows, targets); err != nil {
		return nil, err
	}
	grid, err := groupGrid(x.d, rows)
	if err != nil {
		return nil, err
	}
	return x.k.Call(grid, xentParams{Rows: uint32(rows), Cols: uint32(cols)}, logits, targets, losses)
}

// xentTol: exp and log are a few ulp in WGSL and the row sum is f32; Rel
// covers the logsumexp of 152000 columns (about 12) and Abs the small
// losses of rows whose target dominates.
var xentTol = Tol{Abs: 1e-5, Rel: 1e-5}

// xentRows is one input of a cross-entropy case: rows x cols logits in
// [-spread, spread) shifted by offset; every third row (from row 1) masked.
type xentRows struct {
	rows, cols     int
	spread, offset float32
}

func (s xentRows) String() string {
	return fmt.Sprintf("%dx%d spread %g offset %g", s.rows, s.cols, s.spread, s.offset)
}

// xentCases check the cross-entropy forward against a float64 ref within
// xentTol. Offsets of +-1000 and a spread of 1000 would overflow exp or
// make NaN without the max subtraction; 152000 columns is Qwen2's
// vocabulary.
func xentCases() []Case {
	odd := []xentRows{
		{1, 1, 2, 0}, {7, 3, 2, 0}, {37, 257, 2, 0}, {3, 257, 20, 0},
		{3, 1000, 2, 1000}, {3, 1000, 2, -1000}, {2, 1000, 1000, 0},
	}
	vocab := []xentRows{{2, 152000, 2, 0}, {2, 152000, 1000, 0}}
	return []Case{
		{"crossentropy/odd-shapes-and-large-magnitudes", func(d *gpu.Device) error { return checkXent(d, odd) }},
		{"crossentropy/152000-columns", func(d *gpu.Device) error { return checkXent(d, vocab) }},
	}
}

// xentTargets returns seeded targets for rows of cols classes: row 1 of
// every three masked (-1), the first row's target its last class.
func xentTargets(g seeded, rows, cols int) []int {
	t := make([]int, rows)
	for r := range t {
		t[r] = g.r.IntN(cols)
		if r%3 == 1 {
			t[r] = -1
		}
	}
	t[0] = cols - 1
	return t
}

func checkXent(d *gpu.Device, inputs []xentRows) error {
	x, err := NewCrossEntropy(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "crossentropy")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(inputs))
	for i, in := range inputs {
		g := newSeeded(uint64(500 + i))
		logits := g.next(in.rows*in.cols, in.spread)
		for j := range logits {
			logits[j] += in.offset
		}
		targets := xentTargets(g, in.rows, in.cols)
		bl, err := inputBuffer(d, "logits "+in.String(), logits)
		if err != nil {
			return err
		}
		defer bl.Free()
		bt, err := NewTargets(d, "targets "+in.String(), targets, in.cols)
		if err != nil {
			return err
		}
		defer bt.Free()
		out, err := NewGuarded(d, "crossentropy "+in.String(), in.rows, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(x.Call(out.View, bl, bt, in.rows, in.cols))
		want[i] = xentRef(logits, targets, in.rows, in.cols)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, xentTol)
}

// xentRef is ref.CrossEntropyForward in float64, rounded to float32.
func xentRef(logits []float32, targets []int, rows, cols int) []float32 {
	x64 := make([]float64, len(logits))
	for i, v := range logits {
		x64[i] = float64(v)
	}
	l64 := make([]float64, rows)
	ref.CrossEntropyForward(l64, x64, targets, rows, cols)
	out := make([]float32, rows)
	for i, v := range l64 {
		out[i] = float32(v)
	}
	return out
}
