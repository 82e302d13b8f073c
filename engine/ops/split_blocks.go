package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// SplitBlocks launches split_blocks_fwd.wgsl and split_blocks_bwd.wgsl:
// the columns of a (rows, G*W) matrix regrouped into G aligned (rows, W)
// blocks and back. Prefix tuning's reparameterisation MLP writes all
// layers' keys and values as one (P, L*2*KV) matrix; each layer binds
// its (P, KV) block.
type SplitBlocks struct {
	d        *gpu.Device
	fwd, bwd *gpu.Kernel
}

// splitBlocksParams is the Params struct of both kernels (Accumulate
// unused by the forward one).
type splitBlocksParams struct{ N, Row, Groups, Width, Stride, Accumulate uint32 }

// NewSplitBlocks builds both kernels on d.
func NewSplitBlocks(d *gpu.Device) (*SplitBlocks, error) {
	fwd, err := d.Kernel("split_blocks_fwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	bwd, err := d.Kernel("split_blocks_bwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &SplitBlocks{d: d, fwd: fwd, bwd: bwd}, nil
}

// Forward returns the call out[g*stride + r*W + w] = inp[r*G*W + g*W + w]
// (ref.SplitBlocksForward); out holds G*stride floats, stride >= rows*W.
func (k *SplitBlocks) Forward(out, inp *gpu.Buffer, rows, G, W, stride int) (*gpu.Call, error) {
	p, grid, err := k.params(k.fwd, out, inp, rows, G, W, stride)
	if err != nil {
		return nil, err
	}
	return k.fwd.Call(grid, p, inp, out)
}

// Backward returns the call dinp[r*G*W + g*W + w] (+)= dout[g*stride +
// r*W + w] (ref.SplitBlocksBackward); accumulate adds to dinp, otherwise
// it is overwritten.
func (k *SplitBlocks) Backward(dinp, dout *gpu.Buffer, rows, G, W, stride int, accumulate bool) (*gpu.Call, error) {
	p, grid, err := k.params(k.bwd, dout, dinp, rows, G, W, stride)
	if err != nil {
		return nil, err
	}
	if accumulate {
		p.Accumulate = 1
	}
	return k.bwd.Call(grid, p, dout, dinp)
}

// params checks the shape against blocks (G*stride floats) and rowMajor
// (rows*G*W floats).
func (k *SplitBlocks) params(kern *gpu.Kernel, blocks, rowMajor *gpu.Buffer, rows, G, W, stride int) (splitBlocksParams, gpu.Grid, error) {
	if rows < 1 || G < 1 || W < 1 || stride < rows*W || G > maxElems/stride {
		return splitBlocksParams{}, gpu.Grid{}, fmt.Errorf("ops: %s: rows %d, %d blocks of width %d, stride %d: want positive sizes and stride >= rows*width",
			kern.Name, rows, G, W, stride)
	}
	n := rows * G * W
	if err := needFloats(kern.Name+" blocks", G*stride, blocks); err != nil {
		return splitBlocksParams{}, gpu.Grid{}, err
	}
	if err := needFloats(kern.Name+" rows", n, rowMajor); err != nil {
		return splitBlocksParams{}, gpu.Grid{}, err
	}
	grid, row, err := flatGrid(k.d, n, elemWG)
	p := splitBlocksParams{N: uint32(n), Row: row, Groups: uint32(G), Width: uint32(W), Stride: uint32(stride)}
	return p, grid, err
}

// splitBlocksCases check both passes bit for bit (moves and at most one
// addition): odd widths, and a stride with a gap the kernel must not
// touch (its initial values are expected back).
func splitBlocksCases() []Case {
	var cases []Case
	for _, acc := range []bool{false, true} {
		cases = append(cases, Case{
			Name: "split-blocks/fwd-bwd-gaps/" + accumulateName(acc),
			Run:  func(d *gpu.Device) error { return checkSplitBlocks(d, acc) },
		})
	}
	return cases
}

func checkSplitBlocks(d *gpu.Device, accumulate bool) error {
	k, err := NewSplitBlocks(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "split-blocks")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range [][4]int{{1, 1, 1, 1}, {3, 4, 5, 16}, {7, 6, 33, 7 * 33}, {20, 8, 96, 1984}} {
		rows, G, W, stride := s[0], s[1], s[2], s[3]
		g := newSeeded(uint64(2400 + i))
		inp, dout := g.next(rows*G*W, 1), g.next(G*stride, 1)
		bufs, err := inputBuffers(d, fmt.Sprintf("%v", s), inp, dout)
		if err != nil {
			return err
		}
		defer freeBuffers(bufs)
		blocksInit := g.next(G*stride, 1)
		blocks, err := NewGuarded(d, fmt.Sprintf("split-blocks %v out", s), G*stride, blocksInit)
		if err != nil {
			return err
		}
		outs = append(outs, blocks)
		init, dinp := accumulateInit(uint64(2500+i), rows*G*W, accumulate)
		grad, err := NewGuarded(d, fmt.Sprintf("split-blocks %v dinp", s), rows*G*W, init)
		if err != nil {
			return err
		}
		outs = append(outs, grad)
		rec.dispatch(k.Forward(blocks.View, bufs[0], rows, G, W, stride))
		rec.dispatch(k.Backward(grad.View, bufs[1], rows, G, W, stride, accumulate))
		o := append([]float32(nil), blocksInit...)
		ref.SplitBlocksForward(o, inp, rows, G, W, stride)
		ref.SplitBlocksBackward(dinp, dout, rows, G, W, stride)
		want = append(want, o, dinp)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, Exact)
}
