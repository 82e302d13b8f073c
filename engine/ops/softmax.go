package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Softmax launches softmax_fwd.wgsl: a numerically stable softmax of each
// row, one workgroup per row. The kernel is built once, in NewSoftmax.
type Softmax struct {
	d *gpu.Device
	k *gpu.Kernel
}

// softmaxMaxCols keeps each of the kernel's three column loops at no more
// than 16384 trips per invocation, far below lavapipe's 65535 cut-off.
const softmaxMaxCols = 256 * 16384

type softmaxParams struct{ Rows, Cols uint32 }

// rowReduce is the snippet of workgroup-wide max and sum that the
// one-row-per-workgroup kernels (softmax, norms, attention) share.
var rowReduce = []string{"workgroup_reduce.wgsl"}

// NewSoftmax builds the softmax kernel on d.
func NewSoftmax(d *gpu.Device) (*Softmax, error) {
	k, err := d.Kernel("softmax_fwd.wgsl", rowReduce, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Softmax{d: d, k: k}, nil
}

// Call returns the call out = softmax(x) along each row (ref.Softmax):
// x and out are (rows, cols) row-major, e.g. logits (B*T, V). out must not
// be x (WebGPU forbids binding one buffer as both read and read_write).
func (s *Softmax) Call(out, x *gpu.Buffer, rows, cols int) (*gpu.Call, error) {
	if cols <= 0 || cols > softmaxMaxCols {
		return nil, fmt.Errorf("ops: %s: %d columns is outside 1..%d", s.k.Name, cols, softmaxMaxCols)
	}
	if rows <= 0 || rows > maxElems/cols {
		return nil, fmt.Errorf("ops: %s: %d rows of %d columns: too many or none", s.k.Name, rows, cols)
	}
	if err := needFloats(s.k.Name, rows*cols, out, x); err != nil {
		return nil, err
	}
	grid, err := groupGrid(s.d, rows)
	if err != nil {
		return nil, err
	}
	return s.k.Call(grid, softmaxParams{Rows: uint32(rows), Cols: uint32(cols)}, x, out)
}

// softmaxTol: exp and division are a few ulp in WGSL and the row sum is
// f32; Abs covers the tiny shares of large rows.
var softmaxTol = Tol{Abs: 1e-6, Rel: 1e-5}

// softmaxRows is one input of a softmax case: rows x cols values in
// [-spread, spread) shifted by offset.
type softmaxRows struct {
	rows, cols     int
	spread, offset float32
}

func (s softmaxRows) String() string {
	return fmt.Sprintf("%dx%d spread %g offset %g", s.rows, s.cols, s.spread, s.offset)
}

// softmaxCases check softmax against a float64 ref within softmaxTol, each
// case a few shapes recorded into one submit. The large-magnitude inputs
// (offset 1000, or spread 1000) would overflow exp or make NaN without the
// max subtraction; 152000 columns is Qwen2's vocabulary.
func softmaxCases() []Case {
	odd := []softmaxRows{
		{1, 1, 2, 0}, {3, 37, 2, 0}, {37, 3, 2, 0}, {2, 257, 2, 0},
		{3, 1000, 2, 1000}, {3, 1000, 2, -1000}, {2, 1000, 1000, 0},
	}
	vocab := []softmaxRows{{2, 152000, 2, 0}, {1, 152000, 1000, 0}}
	return []Case{
		{"softmax/odd-shapes-and-large-magnitudes", func(d *gpu.Device) error { return checkSoftmax(d, odd) }},
		{"softmax/152000-columns", func(d *gpu.Device) error { return checkSoftmax(d, vocab) }},
	}
}

func checkSoftmax(d *gpu.Device, inputs []softmaxRows) error {
	s, err := NewSoftmax(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "softmax")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(inputs))
	for i, in := range inputs {
		n := in.rows * in.cols
		x := seededF32(uint64(10+i), n, in.spread)
		for j := range x {
			x[j] += in.offset
		}
		bx, err := inputBuffer(d, "x "+in.String(), x)
		if err != nil {
			return err
		}
		defer bx.Free()
		out, err := NewGuarded(d, "softmax "+in.String(), n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(s.Call(out.View, bx, in.rows, in.cols))
		want[i] = softmaxRef(x, in.rows, in.cols)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, softmaxTol)
}

// softmaxRef is ref.Softmax in float64, rounded to float32 at the end.
func softmaxRef(x []float32, rows, cols int) []float32 {
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	ref.Softmax(x64, x64, rows, cols)
	out := make([]float32, len(x))
	for i, v := range x64 {
		out[i] = float32(v)
	}
	return out
}
