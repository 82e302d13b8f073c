package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// NormBackward launches the backward passes of the row normalizations:
// rmsnorm_bwd.wgsl and layernorm_bwd.wgsl for dinp, one workgroup per row
// as in the forwards; and, for norms that train, rmsnorm_dweight_bwd.wgsl
// or layernorm_dparams_bwd.wgsl (partial sums per block of rows) then
// blocksum_final.wgsl for dweight and dbias. The kernels are built once, in
// NewNormBackward.
type NormBackward struct {
	d                              *gpu.Device
	rms, rmsWeight, layer, layerWB *gpu.Kernel
	rmsRows                        *gpu.Kernel
	sum                            *blockSum
	// PerRow picks rmsnorm_rows_bwd.wgsl (one invocation per row, no
	// barriers) for RMSNorm's dinp when cols <= normRowsMaxCols, as
	// Norm.PerRow does for the forward. NewNormBackward sets it from the
	// adapter.
	PerRow bool
}

// normRowsBwdParams is the Params struct of rmsnorm_rows_bwd.wgsl.
type normRowsBwdParams struct{ Rows, Cols, Accumulate, RowLen uint32 }

// normBwdParams is the Params struct of rmsnorm_bwd.wgsl and layernorm_bwd.wgsl.
type normBwdParams struct{ Rows, Cols, Accumulate uint32 }

// normPartialParams is the Params struct of rmsnorm_dweight_bwd.wgsl and
// layernorm_dparams_bwd.wgsl (Plane unused by the first).
type normPartialParams struct{ Rows, Cols, Per, Plane uint32 }

// NewNormBackward builds the norm backward kernels on d.
func NewNormBackward(d *gpu.Device) (*NormBackward, error) {
	r, w := gpu.Read, gpu.ReadWrite
	rms, err := d.Kernel("rmsnorm_bwd.wgsl", rowReduce, r, r, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	rmsWeight, err := d.Kernel("rmsnorm_dweight_bwd.wgsl", nil, r, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	layer, err := d.Kernel("layernorm_bwd.wgsl", rowReduce, r, r, r, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	layerWB, err := d.Kernel("layernorm_dparams_bwd.wgsl", nil, r, r, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	sum, err := newBlockSum(d)
	if err != nil {
		return nil, err
	}
	rmsRows, err := d.Kernel("rmsnorm_rows_bwd.wgsl", nil, r, r, r, r, w, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &NormBackward{d: d, rms: rms, rmsWeight: rmsWeight, layer: layer, layerWB: layerWB, rmsRows: rmsRows, sum: sum,
		PerRow: d.Info.IsCPU()}, nil
}

// RMSNorm returns the calls of Norm.RMSNorm's backward pass
// (ref.RMSNormBackward), in order:
//
//	dinp[r, c]  (+)= s * g[c] - s^3 * x[c] * (sum over c' of g[c'] * x[c']) / cols
//	dweight[c]  (+)= sum over r of dout[r, c] * x[c] * s
//
// with x = inp[r, :], g = dout[r, :] * weight and s = rstd[r], the one the
// forward saved. dout, inp and dinp are (rows, cols) row-major, weight and
// dweight (cols), rstd (rows). accumulate adds the gradients to dinp and
// dweight, otherwise they are overwritten. dinp or dweight may be nil when
// not wanted (a frozen norm needs no dweight), not both. scratch holds
// GradScratchFloats(rows, cols, 1) float32s when dweight is wanted and may
// be nil otherwise. No output may be an input.
func (n *NormBackward) RMSNorm(dinp, dweight, scratch, dout, inp, weight, rstd *gpu.Buffer, rows, cols int, accumulate bool) ([]*gpu.Call, error) {
	if err := n.check(n.rms, dinp, dweight, rows, cols, []*gpu.Buffer{dout, inp}, []*gpu.Buffer{weight}, []*gpu.Buffer{rstd}); err != nil {
		return nil, err
	}
	var calls []*gpu.Call
	if dinp != nil {
		c, err := n.rmsInput(rows, cols, accumulate, dout, inp, weight, rstd, dinp)
		if err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	if dweight == nil {
		return calls, nil
	}
	grid, per, err := n.blocks(n.rmsWeight, scratch, rows, cols, 1)
	if err != nil {
		return nil, err
	}
	p := normPartialParams{Rows: uint32(rows), Cols: uint32(cols), Per: uint32(per)}
	partial, err := n.rmsWeight.Call(grid, p, dout, inp, rstd, scratch)
	if err != nil {
		return nil, err
	}
	final, err := n.sum.call(dweight, scratch, 0, rows, cols, accumulate)
	if err != nil {
		return nil, err
	}
	return append(calls, partial, final), nil
}

// LayerNorm returns the calls of Norm.LayerNorm's backward pass
// (ref.LayerNormBackward), in order:
//
//	dinp[r, c] (+)= s * (g[c] - mean over c' of g[c'] - n[c] * mean over c' of g[c'] * n[c'])
//	dweight[c] (+)= sum over r of dout[r, c] * n[c]
//	dbias[c]   (+)= sum over r of dout[r, c]
//
// with n = (inp[r, :] - mean[r]) * s, g = dout[r, :] * weight and
// s = rstd[r], mean and rstd the ones the forward saved. dout, inp and dinp
// are (rows, cols) row-major, weight, dweight and dbias (cols), mean and
// rstd (rows). accumulate adds the gradients to their outputs, otherwise
// they are overwritten. Any of dinp, dweight and dbias may be nil when not
// wanted, not all three. scratch holds GradScratchFloats(rows, cols, 2)
// float32s when dweight or dbias is wanted and may be nil otherwise. No
// output may be an input.
func (n *NormBackward) LayerNorm(dinp, dweight, dbias, scratch, dout, inp, weight, mean, rstd *gpu.Buffer, rows, cols int, accumulate bool) ([]*gpu.Call, error) {
	params := dweight
	if params == nil {
		params = dbias
	}
	if err := n.check(n.layer, dinp, params, rows, cols, []*gpu.Buffer{dout, inp}, []*gpu.Buffer{weight}, []*gpu.Buffer{mean, rstd}); err != nil {
		return nil, err
	}
	var calls []*gpu.Call
	if dinp != nil {
		c, err := n.rows(n.layer, rows, cols, accumulate, dout, inp, weight, mean, rstd, dinp)
		if err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	if params == nil {
		return calls, nil
	}
	grid, per, err := n.blocks(n.layerWB, scratch, rows, cols, 2)
	if err != nil {
		return nil, err
	}
	plane := GradScratchFloats(rows, cols, 1)
	p := normPartialParams{Rows: uint32(rows), Cols: uint32(cols), Per: uint32(per), Plane: uint32(plane)}
	partial, err := n.layerWB.Call(grid, p, dout, inp, mean, rstd, scratch)
	if err != nil {
		return nil, err
	}
	calls = append(calls, partial)
	for i, out := range []*gpu.Buffer{dweight, dbias} {
		if out == nil {
			continue
		}
		final, err := n.sum.call(out, scratch, i*plane, rows, cols, accumulate)
		if err != nil {
			return nil, err
		}
		calls = append(calls, final)
	}
	return calls, nil
}

// check checks the shape and buffer sizes of a norm backward (matrices
// hold rows*cols, perCol cols, perRow rows float32s) and that it has an
// output.
func (n *NormBackward) check(k *gpu.Kernel, dinp, dparam *gpu.Buffer, rows, cols int, matrices, perCol, perRow []*gpu.Buffer) error {
	if dinp == nil && dparam == nil {
		return fmt.Errorf("ops: %s: no gradient asked for", k.Name)
	}
	if cols <= 0 || cols > normMaxCols {
		return fmt.Errorf("ops: %s: %d columns is outside 1..%d", k.Name, cols, normMaxCols)
	}
	if rows <= 0 || rows > maxElems/cols {
		return fmt.Errorf("ops: %s: %d rows of %d columns: too many or none", k.Name, rows, cols)
	}
	if dinp != nil {
		matrices = append(matrices, dinp)
	}
	if err := needFloats(k.Name, rows*cols, matrices...); err != nil {
		return err
	}
	if err := needFloats(k.Name, cols, perCol...); err != nil {
		return err
	}
	return needFloats(k.Name, rows, perRow...)
}

// rows returns the dinp call of k, one workgroup per row.
// rmsInput returns RMSNorm's dinp call on the per-row or per-workgroup
// kernel.
func (n *NormBackward) rmsInput(rows, cols int, accumulate bool, bufs ...*gpu.Buffer) (*gpu.Call, error) {
	if !n.PerRow || cols > normRowsMaxCols {
		return n.rows(n.rms, rows, cols, accumulate, bufs...)
	}
	grid, rowLen, err := flatGrid(n.d, rows, normRowsWG)
	if err != nil {
		return nil, err
	}
	return n.rmsRows.Call(grid, normRowsBwdParams{Rows: uint32(rows), Cols: uint32(cols), Accumulate: flag(accumulate),
		RowLen: rowLen}, bufs...)
}

func (n *NormBackward) rows(k *gpu.Kernel, rows, cols int, accumulate bool, bufs ...*gpu.Buffer) (*gpu.Call, error) {
	grid, err := groupGrid(n.d, rows)
	if err != nil {
		return nil, err
	}
	return k.Call(grid, normBwdParams{Rows: uint32(rows), Cols: uint32(cols), Accumulate: flag(accumulate)}, bufs...)
}

// blocks checks scratch for grads planes and returns the grid and block
// rows of the partial-sum pass k.
func (n *NormBackward) blocks(k *gpu.Kernel, scratch *gpu.Buffer, rows, cols, grads int) (gpu.Grid, int, error) {
	if err := needFloats(k.Name+" scratch", GradScratchFloats(rows, cols, grads), scratch); err != nil {
		return gpu.Grid{}, 0, err
	}
	return blockGrid(n.d, k.Name, rows, cols)
}

// normBwdTol: dinp is s*g minus the row's mean terms, each an f32 sum over
// cols; Rel covers their rounding where the terms nearly cancel, Abs the
// entries that cancel to near zero. normParamTol: dweight and dbias (and
// ScaleCols' ds) are f32 sums over rows of O(1) terms, in blocks of rows
// then over the blocks, so their rounding grows with the row count; Abs
// covers sums of 4096 and 70001 rows that cancel to near zero.
var (
	normBwdTol   = Tol{Abs: 1e-5, Rel: 1e-4}
	normParamTol = Tol{Abs: 2e-5, Rel: 1e-5}
)

// normBwdShapes are normShapes plus a tall one: 4096 rows, 128 row blocks.
func normBwdShapes() []normShape { return append(normShapes(), normShape{4096, 64, 0}) }

// normWant says which gradients a norm backward case asks for: dinp, and
// the parameters' (dweight, and dbias for LayerNorm).
type normWant struct{ dinp, params bool }

// normBackwardCases check both norms' backward passes against their ref
// twins in float64 (fed the f32 statistics of the ref forward), with and
// without accumulate, with every gradient, with dinp only (a frozen norm:
// no scratch) and with the parameters' only on 70001 rows (row blocks
// longer than gradBlockRows). dinp is held to normBwdTol, the rest to
// normParamTol. The dinp pass over 70001 rows, whose grid is 2-D, is
// TestNormBackward2DGrid, native only: it takes ~50 s on SwiftShader.
func normBackwardCases() []Case {
	all, frozen, params := normWant{true, true}, normWant{dinp: true}, normWant{params: true}
	var cases []Case
	for _, layer := range []bool{false, true} {
		name := map[bool]string{false: "rmsnorm-bwd", true: "layernorm-bwd"}[layer]
		for _, acc := range []bool{false, true} {
			cases = append(cases, Case{
				Name: fmt.Sprintf("%s/odd-and-tall-shapes/%s", name, accumulateName(acc)),
				Run:  func(d *gpu.Device) error { return checkNormBackward(d, layer, normBwdShapes(), acc, all, false) },
			})
		}
		cases = append(cases,
			Case{name + "/frozen-weight-dinp-only",
				func(d *gpu.Device) error { return checkNormBackward(d, layer, normShapes(), false, frozen, false) }},
			Case{name + "/70001-rows-params-only",
				func(d *gpu.Device) error {
					return checkNormBackward(d, layer, []normShape{{70001, 3, 0.5}}, true, params, false)
				}})
	}
	// RMSNorm's dinp on the one-invocation-per-row kernel.
	for _, acc := range []bool{false, true} {
		cases = append(cases, Case{
			Name: "rmsnorm-rows-bwd/odd-and-tall-shapes/" + accumulateName(acc),
			Run:  func(d *gpu.Device) error { return checkNormBackward(d, false, normBwdShapes(), acc, all, true) },
		})
	}
	return cases
}

func checkNormBackward(d *gpu.Device, layer bool, shapes []normShape, accumulate bool, want normWant, perRow bool) error {
	nb, err := NewNormBackward(d)
	if err != nil {
		return err
	}
	nb.PerRow = perRow
	rec := newRecording(d, "norm backward")
	var dinps, dparams []*Guarded
	defer func() { freeGuardeds(dinps); freeGuardeds(dparams) }()
	var wantInp, wantParams [][]float32
	for i, s := range shapes {
		x, w, b := normInputs(i, s)
		dout := seededF32(uint64(800+i), s.rows*s.cols, 1)
		x64, w64, d64 := normF64(x), normF64(w), normF64(dout)
		// The statistics as the forward saves them, in f32.
		o64, m64, r64 := make([]float64, len(x)), make([]float64, s.rows), make([]float64, s.rows)
		if layer {
			ref.LayerNormForward(o64, m64, r64, x64, w64, normF64(b), 1, s.rows, s.cols, layerEps)
		} else {
			ref.RMSNormForward(o64, r64, x64, w64, 1, s.rows, s.cols, rmsEps)
		}
		mean, rstd := normF32(m64), normF32(r64)
		grads := map[bool]int{false: 1, true: 2}[layer]
		scratch := seededF32(7, GradScratchFloats(s.rows, s.cols, grads), 1e3) // garbage to overwrite
		in, err := inputBuffers(d, s.String(), x, w, dout, mean, rstd, scratch)
		if err != nil {
			return err
		}
		defer freeBuffers(in)

		// The gradients asked for (nil: not computed), their outputs' initial
		// content, and the ref's results.
		initX, wantX := accumulateInit(uint64(900+i), len(x), accumulate)
		initW, wantW := accumulateInit(uint64(1000+i), s.cols, accumulate)
		initB, wantB := accumulateInit(uint64(1100+i), s.cols, accumulate)
		gx, gw, gb := normF64(wantX), normF64(wantW), normF64(wantB)
		var sbuf *gpu.Buffer
		if !want.dinp {
			gx = nil
		}
		if want.params {
			sbuf = in[5]
		} else {
			gw, gb = nil, nil
		}
		if layer {
			ref.LayerNormBackward(gx, gw, gb, d64, x64, w64, normF64(mean), normF64(rstd), 1, s.rows, s.cols)
		} else {
			gb = nil
			ref.RMSNormBackward(gx, gw, d64, x64, w64, normF64(rstd), 1, s.rows, s.cols)
		}
		var views [3]*gpu.Buffer // dinp, dweight, dbias
		for k, o := range []struct {
			label string
			init  []float32
			grad  []float64
		}{{"dinp", initX, gx}, {"dweight", initW, gw}, {"dbias", initB, gb}} {
			if o.grad == nil {
				continue
			}
			g, err := NewGuarded(d, o.label+" "+s.String(), len(o.init), o.init)
			if err != nil {
				return err
			}
			views[k] = g.View
			if k == 0 {
				dinps, wantInp = append(dinps, g), append(wantInp, normF32(o.grad))
			} else {
				dparams, wantParams = append(dparams, g), append(wantParams, normF32(o.grad))
			}
		}
		if layer {
			rec.dispatchAll(nb.LayerNorm(views[0], views[1], views[2], sbuf, in[2], in[0], in[1], in[3], in[4], s.rows, s.cols, accumulate))
		} else {
			rec.dispatchAll(nb.RMSNorm(views[0], views[1], sbuf, in[2], in[0], in[1], in[4], s.rows, s.cols, accumulate))
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	if err := checkGuardeds(dinps, wantInp, normBwdTol); err != nil {
		return err
	}
	return checkGuardeds(dparams, wantParams, normParamTol)
}
