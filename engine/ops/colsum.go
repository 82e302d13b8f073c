package ops

import (
	"errors"
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// ColSum launches colsum_bwd.wgsl: out (cols) = sum over the rows of in
// (rows, cols), or out += that: the gradients of a bias (sum of dY over
// tokens) and of IA3's scales (sum of dY * y). WGSL has no f32 atomics, so
// more than colSumOnePass rows take two passes through a scratch buffer of
// ColSumScratch floats. The kernel is built once, in NewColSum.
type ColSum struct {
	d      *gpu.Device
	kernel *gpu.Kernel
}

const (
	colSumWG = 64 // const WG of colsum_bwd.wgsl
	// colSumOnePass is the most rows summed in one pass: past it, the
	// rows go in chunks of about sqrt(rows), so that both passes loop
	// ~sqrt(rows) times (at most 32768 for 2^30 rows) and the first runs
	// ~sqrt(rows) workgroups deep.
	colSumOnePass = 64
)

type colSumParams struct {
	Rows, Cols, Chunk, Accumulate uint32
	Row                           uint32 // invocations per grid row (see flatGrid)
}

// NewColSum builds the kernel on d.
func NewColSum(d *gpu.Device) (*ColSum, error) {
	k, err := d.Kernel("colsum_bwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &ColSum{d: d, kernel: k}, nil
}

// colSumChunk returns the rows per chunk of the first pass and the number
// of chunks; one chunk means one pass.
func colSumChunk(rows int) (chunk, chunks int) {
	if rows <= colSumOnePass {
		return rows, 1
	}
	chunk = int(math.Ceil(math.Sqrt(float64(rows))))
	return chunk, ceilDiv(rows, chunk)
}

// ColSumScratch returns the float32s of scratch ColSum.Call needs for in
// (rows, cols): 0 when one pass does (rows <= 64).
func ColSumScratch(rows, cols int) int {
	if _, chunks := colSumChunk(rows); chunks > 1 {
		return chunks * cols
	}
	return 0
}

// Call returns the dispatches, to record in order, that write
//
//	out[c] (+)= sum over r of in[r*cols+c],  c < cols, r < rows
//
// (ref.LinearBackward's dbias), adding to out when accumulate, else
// overwriting it. partial is scratch of at least ColSumScratch(rows, cols)
// floats, or nil when that is 0; in, out and partial must not overlap.
func (s *ColSum) Call(out, partial, in *gpu.Buffer, rows, cols int, accumulate bool) ([]*gpu.Call, error) {
	name := s.kernel.Name
	if rows < 1 || cols < 1 || rows > maxElems/cols {
		return nil, fmt.Errorf("ops: %s: (%d, %d): none or too large", name, rows, cols)
	}
	if err := needFloats(name+" in (rows, cols)", rows*cols, in); err != nil {
		return nil, err
	}
	if err := needFloats(name+" out (cols)", cols, out); err != nil {
		return nil, err
	}
	chunk, chunks := colSumChunk(rows)
	grid, row, err := flatGrid(s.d, cols, colSumWG)
	if err != nil {
		return nil, err
	}
	p := colSumParams{Rows: uint32(rows), Cols: uint32(cols), Chunk: uint32(chunk), Accumulate: b2u(accumulate), Row: row}
	if chunks == 1 {
		c, err := s.kernel.Call(grid, p, in, out)
		if err != nil {
			return nil, err
		}
		return []*gpu.Call{c}, nil
	}
	if err := needFloats(name+" partial (ColSumScratch)", chunks*cols, partial); err != nil {
		return nil, err
	}
	first, err := s.kernel.Call(gpu.Grid{X: grid.X, Y: grid.Y, Z: uint32(chunks)},
		colSumParams{Rows: uint32(rows), Cols: uint32(cols), Chunk: uint32(chunk), Row: row}, in, partial)
	if err != nil {
		return nil, err
	}
	p.Rows, p.Chunk = uint32(chunks), uint32(chunks)
	second, err := s.kernel.Call(grid, p, partial, out)
	if err != nil {
		first.Free()
		return nil, err
	}
	return []*gpu.Call{first, second}, nil
}

// colSumShape is one input (rows, cols) of a ColSum case; ints draws
// whole numbers, whose sums are exact in f32 (then held to Exact: a row
// dropped or added twice anywhere shows).
type colSumShape struct {
	rows, cols int
	ints       bool
}

// colSumCases check ColSum against ref.LinearBackward's dbias in float64,
// within matmulTol(rows) (or Exact on whole numbers), on one pass and two,
// rows up to 4096 and cols up to gpt2's fused QKV width 2304, alternately
// overwriting (over NaN, which must not be read) and accumulating.
func colSumCases() []Case {
	return []Case{{"colsum/odd-shapes", checkColSum}}
}

func colSumShapes() []colSumShape {
	return []colSumShape{
		{1, 1, false}, {3, 37, false}, {64, 5, true}, {65, 3, false}, {7, 2304, false},
		{300, 2304, false}, {4095, 65, true}, {4096, 1, false}, {4096, 576, false}, {4096, 2304, true},
	}
}

func checkColSum(d *gpu.Device) error {
	cs, err := NewColSum(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "colsum")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	var tols []Tol
	for i, s := range colSumShapes() {
		g := newSeeded(uint64(1100 + i))
		in, init := g.next(s.rows*s.cols, 2), g.next(s.cols, 2)
		tol := matmulTol(s.rows)
		if s.ints {
			in, init, tol = g.ints(s.rows*s.cols, 2), g.ints(s.cols, 2), Exact
		}
		accumulate := i%2 == 1
		dbias := make([]float64, s.cols)
		if accumulate {
			dbias = widen(init)
		} else {
			for j := range init {
				init[j] = float32(math.NaN())
			}
		}
		ref.LinearBackward(nil, nil, dbias, widen(in), nil, nil, s.rows, 0, s.cols)
		w := make([]float32, s.cols)
		for j, v := range dbias {
			w[j] = float32(v)
		}
		want, tols = append(want, w), append(tols, tol)

		bin, err := inputBuffer(d, fmt.Sprintf("in %dx%d", s.rows, s.cols), in)
		if err != nil {
			return err
		}
		defer bin.Free()
		var partial *gpu.Buffer
		if n := ColSumScratch(s.rows, s.cols); n > 0 {
			if partial, err = d.NewBuffer("partial", 4*uint64(n)); err != nil {
				return err
			}
			defer partial.Free()
		}
		out, err := NewGuarded(d, fmt.Sprintf("colsum %dx%d accumulate=%v", s.rows, s.cols, accumulate), s.cols, init)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		calls, err := cs.Call(out.View, partial, bin, s.rows, s.cols, accumulate)
		if err != nil {
			return err
		}
		for _, c := range calls {
			rec.dispatch(c, nil)
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i := range outs {
		if err := checkGuardeds(outs[i:i+1], want[i:i+1], tols[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkColSumRefuses: a missing or short scratch buffer and a short input
// are errors at Call time.
func checkColSumRefuses(d *gpu.Device) error {
	cs, err := NewColSum(d)
	if err != nil {
		return err
	}
	a, b, c, err := newBuffers3(d, 64)
	if err != nil {
		return err
	}
	defer a.Free()
	defer b.Free()
	defer c.Free()
	if _, err := cs.Call(a, nil, b, 65, 1, false); err == nil {
		return errors.New("colsum of 65 rows without scratch was accepted")
	}
	if _, err := cs.Call(a, c, b, 8, 9, false); err == nil {
		return errors.New("colsum of 8x9 from 64 values was accepted")
	}
	return nil
}
