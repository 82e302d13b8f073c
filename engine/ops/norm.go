package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Norm launches the row normalizations rmsnorm_fwd.wgsl and
// layernorm_fwd.wgsl, one workgroup per row, or on CPU adapters
// rmsnorm_rows_fwd.wgsl, one invocation per row (PerRow). The kernels are
// built once, in NewNorm; each method only binds buffers into a Call to
// record.
type Norm struct {
	d          *gpu.Device
	rms, layer *gpu.Kernel
	rmsRows    *gpu.Kernel
	// PerRow picks rmsnorm_rows_fwd.wgsl for rows of up to
	// normRowsMaxCols columns: no barriers, which CPU adapters want.
	// NewNorm sets it from the adapter (gpu.AdapterInfo.IsCPU).
	PerRow bool
}

// normRowsMaxCols bounds the columns of the one-invocation-per-row norm
// kernels: two loops of cols trips each stay far below lavapipe's 65535.
const normRowsMaxCols = 16384

// normRowsWG is const WG of rmsnorm_rows_fwd.wgsl and rmsnorm_rows_bwd.wgsl.
const normRowsWG = 32

// normRowsParams is the Params struct of rmsnorm_rows_fwd.wgsl.
type normRowsParams struct {
	Rows, Cols uint32
	Eps        float32
	RowLen     uint32
}

// normMaxCols keeps each of the kernels' column loops at no more than 16384
// trips per invocation, far below lavapipe's 65535 cut-off.
const normMaxCols = 256 * 16384

// normParams is the Params struct of rmsnorm_fwd.wgsl and layernorm_fwd.wgsl.
type normParams struct {
	Rows, Cols uint32
	Eps        float32
}

// NewNorm builds the normalization kernels on d.
func NewNorm(d *gpu.Device) (*Norm, error) {
	rms, err := d.Kernel("rmsnorm_fwd.wgsl", rowReduce, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	layer, err := d.Kernel("layernorm_fwd.wgsl", rowReduce,
		gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	rmsRows, err := d.Kernel("rmsnorm_rows_fwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Norm{d: d, rms: rms, layer: layer, rmsRows: rmsRows, PerRow: d.Info.IsCPU()}, nil
}

// RMSNorm returns the call out = inp * rstd * weight along each row
// (ref.RMSNormForward): inp and out are (rows, cols) row-major, e.g.
// (B*T, C), weight is (cols), and rstd (rows) receives each row's
// 1/sqrt(mean(inp^2) + eps) for the backward pass. out must not be inp.
func (n *Norm) RMSNorm(out, rstd, inp, weight *gpu.Buffer, rows, cols int, eps float32) (*gpu.Call, error) {
	grid, err := n.rowGrid(n.rms, rows, cols, []*gpu.Buffer{out, inp}, []*gpu.Buffer{weight}, []*gpu.Buffer{rstd})
	if err != nil {
		return nil, err
	}
	if n.PerRow && cols <= normRowsMaxCols {
		grid, rowLen, err := flatGrid(n.d, rows, normRowsWG)
		if err != nil {
			return nil, err
		}
		return n.rmsRows.Call(grid, normRowsParams{Rows: uint32(rows), Cols: uint32(cols), Eps: eps, RowLen: rowLen},
			inp, weight, out, rstd)
	}
	return n.rms.Call(grid, normParams{Rows: uint32(rows), Cols: uint32(cols), Eps: eps}, inp, weight, out, rstd)
}

// LayerNorm returns the call out = (inp - mean) * rstd * weight + bias along
// each row (ref.LayerNormForward, biased variance): inp and out are
// (rows, cols) row-major, weight and bias are (cols), and mean and rstd
// (rows) receive each row's statistics for the backward pass. out must not
// be inp.
func (n *Norm) LayerNorm(out, mean, rstd, inp, weight, bias *gpu.Buffer, rows, cols int, eps float32) (*gpu.Call, error) {
	grid, err := n.rowGrid(n.layer, rows, cols, []*gpu.Buffer{out, inp}, []*gpu.Buffer{weight, bias}, []*gpu.Buffer{mean, rstd})
	if err != nil {
		return nil, err
	}
	return n.layer.Call(grid, normParams{Rows: uint32(rows), Cols: uint32(cols), Eps: eps},
		inp, weight, bias, out, mean, rstd)
}

// rowGrid checks the shape and buffer sizes (matrices hold rows*cols,
// perCol cols, perRow rows float32s) and returns one workgroup per row.
func (n *Norm) rowGrid(k *gpu.Kernel, rows, cols int, matrices, perCol, perRow []*gpu.Buffer) (gpu.Grid, error) {
	if cols <= 0 || cols > normMaxCols {
		return gpu.Grid{}, fmt.Errorf("ops: %s: %d columns is outside 1..%d", k.Name, cols, normMaxCols)
	}
	if rows <= 0 || rows > maxElems/cols {
		return gpu.Grid{}, fmt.Errorf("ops: %s: %d rows of %d columns: too many or none", k.Name, rows, cols)
	}
	if err := needFloats(k.Name, rows*cols, matrices...); err != nil {
		return gpu.Grid{}, err
	}
	if err := needFloats(k.Name, cols, perCol...); err != nil {
		return gpu.Grid{}, err
	}
	if err := needFloats(k.Name, rows, perRow...); err != nil {
		return gpu.Grid{}, err
	}
	return groupGrid(n.d, rows)
}

// normTol: the row sums are f32 (tree-reduced, so their error grows with
// log(cols)) and sqrt and division are a few ulp in WGSL; outputs are O(1).
var normTol = Tol{Abs: 1e-5, Rel: 1e-5}

// normShape is one input of a norm case: rows x cols values in
// [offset-1, offset+1).
type normShape struct {
	rows, cols int
	offset     float32
}

func (s normShape) String() string {
	return fmt.Sprintf("%dx%d offset %g", s.rows, s.cols, s.offset)
}

// normShapes are odd row counts and widths, from a single column (RMSNorm
// gives about sign(x)*w, LayerNorm gives bias) to widths of 576 and 2048,
// which take several strides per invocation; the offset rows test that
// LayerNorm subtracts the mean.
func normShapes() []normShape {
	var s []normShape
	for _, rows := range []int{1, 3, 37} {
		for _, cols := range []int{1, 37, 257, 576, 2048} {
			s = append(s, normShape{rows, cols, 0})
		}
	}
	return append(s, normShape{3, 576, 1}, normShape{2, 257, -1})
}

// normActCases check RMSNorm, LayerNorm (outputs and saved statistics)
// within normTol and GELU and SwiGLU within actTol against the ref twins
// computed in float64; each case records every shape into one submit.
func normActCases() []Case {
	return []Case{
		{"rmsnorm/odd-shapes", func(d *gpu.Device) error { return checkRMSNorm(d, normShapes(), false) }},
		{"rmsnorm-rows/odd-shapes", func(d *gpu.Device) error { return checkRMSNorm(d, normShapes(), true) }},
		{"layernorm/odd-shapes", func(d *gpu.Device) error { return checkLayerNorm(d, normShapes()) }},
		{"gelu/odd-sizes-and-large-magnitudes", func(d *gpu.Device) error { return checkGelu(d, actSizes) }},
		{"swiglu/odd-sizes-and-large-magnitudes", func(d *gpu.Device) error { return checkSwiGLU(d, actSizes) }},
	}
}

// normInputs draws a shape's input (seed i) and weight and bias around 1
// and 0.
func normInputs(i int, s normShape) (x, w, b []float32) {
	x = seededF32(uint64(100+i), s.rows*s.cols, 1)
	for j := range x {
		x[j] += s.offset
	}
	w = seededF32(uint64(200+i), s.cols, 0.5)
	for j := range w {
		w[j]++
	}
	return x, w, seededF32(uint64(300+i), s.cols, 0.5)
}

const (
	rmsEps   = 1e-6 // Qwen2's rms_norm_eps
	layerEps = 1e-5 // GPT-2's layer_norm_epsilon
)

func checkRMSNorm(d *gpu.Device, shapes []normShape, perRow bool) error {
	nm, err := NewNorm(d)
	if err != nil {
		return err
	}
	nm.PerRow = perRow
	rec := newRecording(d, "rmsnorm")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		x, w, _ := normInputs(i, s)
		bx, err := inputBuffer(d, "x "+s.String(), x)
		if err != nil {
			return err
		}
		defer bx.Free()
		bw, err := inputBuffer(d, "weight "+s.String(), w)
		if err != nil {
			return err
		}
		defer bw.Free()
		out, err := NewGuarded(d, "rmsnorm "+s.String(), s.rows*s.cols, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rstd, err := NewGuarded(d, "rmsnorm rstd "+s.String(), s.rows, nil)
		if err != nil {
			return err
		}
		outs = append(outs, rstd)
		rec.dispatch(nm.RMSNorm(out.View, rstd.View, bx, bw, s.rows, s.cols, rmsEps))

		x64, w64 := normF64(x), normF64(w)
		o64, r64 := make([]float64, len(x)), make([]float64, s.rows)
		ref.RMSNormForward(o64, r64, x64, w64, 1, s.rows, s.cols, rmsEps)
		want = append(want, normF32(o64), normF32(r64))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, normTol)
}

func checkLayerNorm(d *gpu.Device, shapes []normShape) error {
	nm, err := NewNorm(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "layernorm")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		x, w, b := normInputs(i, s)
		var bufs []*gpu.Buffer
		for j, v := range [][]float32{x, w, b} {
			buf, err := inputBuffer(d, []string{"x ", "weight ", "bias "}[j]+s.String(), v)
			if err != nil {
				return err
			}
			defer buf.Free()
			bufs = append(bufs, buf)
		}
		out, err := NewGuarded(d, "layernorm "+s.String(), s.rows*s.cols, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		stats, err := newGuardeds(d, s.rows, "layernorm mean "+s.String(), "layernorm rstd "+s.String())
		if err != nil {
			return err
		}
		outs = append(outs, stats...)
		rec.dispatch(nm.LayerNorm(out.View, stats[0].View, stats[1].View, bufs[0], bufs[1], bufs[2], s.rows, s.cols, layerEps))

		o64, m64, r64 := make([]float64, len(x)), make([]float64, s.rows), make([]float64, s.rows)
		ref.LayerNormForward(o64, m64, r64, normF64(x), normF64(w), normF64(b), 1, s.rows, s.cols, layerEps)
		want = append(want, normF32(o64), normF32(m64), normF32(r64))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, normTol)
}

// normF64 widens v to float64 for the ref twins.
func normF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// normF32 rounds v to float32.
func normF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
