package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// ScaleCols launches IA3's per-column scale: scalecols_fwd.wgsl forward;
// scalecols_bwd.wgsl (dinp, one invocation per element) and
// scalecols_ds_bwd.wgsl then blocksum_final.wgsl (ds, summed over rows)
// backward. The kernels are built once, in NewScaleCols.
type ScaleCols struct {
	d            *gpu.Device
	fwd, bwd, ds *gpu.Kernel
	sum          *blockSum
}

// scaleColsParams is the Params struct of scalecols_fwd.wgsl and
// scalecols_bwd.wgsl (Accumulate unused by the first).
type scaleColsParams struct{ N, Row, Cols, Accumulate uint32 }

// scaleColsPartialParams is the Params struct of scalecols_ds_bwd.wgsl.
type scaleColsPartialParams struct{ Rows, Cols, Per uint32 }

// NewScaleCols builds the ScaleCols kernels on d.
func NewScaleCols(d *gpu.Device) (*ScaleCols, error) {
	r, w := gpu.Read, gpu.ReadWrite
	fwd, err := d.Kernel("scalecols_fwd.wgsl", nil, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	bwd, err := d.Kernel("scalecols_bwd.wgsl", nil, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	ds, err := d.Kernel("scalecols_ds_bwd.wgsl", nil, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	sum, err := newBlockSum(d)
	if err != nil {
		return nil, err
	}
	return &ScaleCols{d: d, fwd: fwd, bwd: bwd, ds: ds, sum: sum}, nil
}

// Forward returns the call out[r, c] = inp[r, c] * s[c]
// (ref.ScaleColsForward): inp and out are (rows, cols) row-major, e.g.
// (B*T, C), s is (cols). out must not be inp.
func (sc *ScaleCols) Forward(out, inp, s *gpu.Buffer, rows, cols int) (*gpu.Call, error) {
	grid, row, err := sc.check(sc.fwd, rows, cols, s, out, inp)
	if err != nil {
		return nil, err
	}
	return sc.fwd.Call(grid, scaleColsParams{N: uint32(rows * cols), Row: row, Cols: uint32(cols)}, inp, s, out)
}

// Backward returns the calls of Forward's backward pass
// (ref.ScaleColsBackward), in order:
//
//	dinp[r, c] (+)= dout[r, c] * s[c]
//	ds[c]      (+)= sum over r of dout[r, c] * inp[r, c]
//
// inp and s are the forward's inputs; dout and dinp are (rows, cols), ds
// is (cols). accumulate adds the gradients to dinp and ds, otherwise they
// are overwritten. dinp or ds may be nil when not wanted, not both.
// scratch holds GradScratchFloats(rows, cols, 1) float32s when ds is
// wanted and may be nil otherwise. No output may be an input.
func (sc *ScaleCols) Backward(dinp, ds, scratch, dout, inp, s *gpu.Buffer, rows, cols int, accumulate bool) ([]*gpu.Call, error) {
	if dinp == nil && ds == nil {
		return nil, fmt.Errorf("ops: %s: no gradient asked for", sc.bwd.Name)
	}
	var calls []*gpu.Call
	if dinp != nil {
		grid, row, err := sc.check(sc.bwd, rows, cols, s, dinp, dout)
		if err != nil {
			return nil, err
		}
		p := scaleColsParams{N: uint32(rows * cols), Row: row, Cols: uint32(cols), Accumulate: flag(accumulate)}
		c, err := sc.bwd.Call(grid, p, dout, s, dinp)
		if err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	if ds == nil {
		return calls, nil
	}
	if _, _, err := sc.check(sc.ds, rows, cols, ds, dout, inp); err != nil {
		return nil, err
	}
	if err := needFloats(sc.ds.Name+" scratch", GradScratchFloats(rows, cols, 1), scratch); err != nil {
		return nil, err
	}
	grid, per, err := blockGrid(sc.d, sc.ds.Name, rows, cols)
	if err != nil {
		return nil, err
	}
	partial, err := sc.ds.Call(grid, scaleColsPartialParams{Rows: uint32(rows), Cols: uint32(cols), Per: uint32(per)}, dout, inp, scratch)
	if err != nil {
		return nil, err
	}
	final, err := sc.sum.call(ds, scratch, 0, rows, cols, accumulate)
	if err != nil {
		return nil, err
	}
	return append(calls, partial, final), nil
}

// check checks the shape and buffer sizes of kernel k (vec holds cols
// float32s, matrices rows*cols) and returns the grid over the elements.
func (sc *ScaleCols) check(k *gpu.Kernel, rows, cols int, vec *gpu.Buffer, matrices ...*gpu.Buffer) (gpu.Grid, uint32, error) {
	if rows <= 0 || cols <= 0 || rows > maxElems/cols {
		return gpu.Grid{}, 0, fmt.Errorf("ops: %s: %d rows of %d columns: too many or none", k.Name, rows, cols)
	}
	if err := needFloats(k.Name, rows*cols, matrices...); err != nil {
		return gpu.Grid{}, 0, err
	}
	if err := needFloats(k.Name, cols, vec); err != nil {
		return gpu.Grid{}, 0, err
	}
	return flatGrid(sc.d, rows*cols, elemWG)
}

// scaleColsShape is one input of a ScaleCols case.
type scaleColsShape struct{ rows, cols int }

func (s scaleColsShape) String() string { return fmt.Sprintf("%dx%d", s.rows, s.cols) }

// scaleColsCases check the forward (one correctly rounded multiply:
// Exact), dinp (mulAddTol) and ds (an f32 sum over rows: normParamTol)
// against the ref
// twins on odd shapes and tall ones (4096 rows: 128 row blocks; 70001 rows:
// blocks past gradBlockRows), with and without accumulate, and with only
// one of the two gradients asked for.
func scaleColsCases() []Case {
	shapes := []scaleColsShape{{1, 1}, {3, 37}, {37, 257}, {5, 576}, {4096, 64}, {70001, 3}}
	small := shapes[:4]
	return []Case{
		{"scalecols/fwd-bwd/overwrite", func(d *gpu.Device) error { return checkScaleCols(d, shapes, false, true, true) }},
		{"scalecols/fwd-bwd/accumulate", func(d *gpu.Device) error { return checkScaleCols(d, shapes, true, true, true) }},
		{"scalecols/bwd-dinp-only", func(d *gpu.Device) error { return checkScaleCols(d, small, true, true, false) }},
		{"scalecols/bwd-ds-only", func(d *gpu.Device) error { return checkScaleCols(d, small, true, false, true) }},
	}
}

func checkScaleCols(d *gpu.Device, shapes []scaleColsShape, accumulate, wantDinp, wantDs bool) error {
	sc, err := NewScaleCols(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "scalecols")
	var outs, dinps, dss []*Guarded
	defer func() { freeGuardeds(outs); freeGuardeds(dinps); freeGuardeds(dss) }()
	var wantOut, wantDinps, wantDss [][]float32
	for i, s := range shapes {
		n := s.rows * s.cols
		g := newSeeded(uint64(2400 + i))
		x, scale, dout := g.next(n, 2), g.next(s.cols, 2), g.next(n, 1)
		initX, wantX := accumulateInit(uint64(2500+i), n, accumulate)
		initS, wantS := accumulateInit(uint64(2600+i), s.cols, accumulate)
		bufs, err := inputBuffers(d, s.String(), x, scale, dout,
			seededF32(7, GradScratchFloats(s.rows, s.cols, 1), 1e3)) // garbage scratch
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		out, err := NewGuarded(d, "scalecols "+s.String(), n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(sc.Forward(out.View, bufs[0], bufs[1], s.rows, s.cols))
		o := make([]float32, n)
		ref.ScaleColsForward(o, x, scale, s.rows, s.cols)
		wantOut = append(wantOut, o)

		var dinp, ds *gpu.Buffer
		gx, gs := normF64(wantX), normF64(wantS)
		if wantDinp {
			out, err := NewGuarded(d, "scalecols dinp "+s.String(), n, initX)
			if err != nil {
				return err
			}
			dinps, dinp = append(dinps, out), out.View
		} else {
			gx = nil
		}
		if wantDs {
			out, err := NewGuarded(d, "scalecols ds "+s.String(), s.cols, initS)
			if err != nil {
				return err
			}
			dss, ds = append(dss, out), out.View
		} else {
			gs = nil
		}
		rec.dispatchAll(sc.Backward(dinp, ds, bufs[3], bufs[2], bufs[0], bufs[1], s.rows, s.cols, accumulate))
		ref.ScaleColsBackward(gx, gs, normF64(dout), normF64(x), normF64(scale), s.rows, s.cols)
		if wantDinp {
			wantDinps = append(wantDinps, normF32(gx))
		}
		if wantDs {
			wantDss = append(wantDss, normF32(gs))
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	if err := checkGuardeds(outs, wantOut, Exact); err != nil {
		return err
	}
	if err := checkGuardeds(dinps, wantDinps, mulAddTol); err != nil {
		return err
	}
	return checkGuardeds(dss, wantDss, normParamTol)
}
