package ops

import (
	"fmt"

	"webpeft/engine/gpu"
)

// Pieces shared by the backward ops (norm_bwd.go, act_bwd.go, relu.go,
// rope_bwd.go, scale_cols.go, dropout.go, vocab_bwd.go): the accumulate
// flag, the row blocks of parameter gradients summed over rows, and the
// list of their parity cases.
//
// Every backward takes `accumulate`: true adds the gradient to what its
// output buffers hold (dinp += grad, as the ref twins do, for a tensor that
// feeds several consumers), false overwrites them (dinp = grad, no zeroing
// pass needed).

// gradParams is the Params struct of the elementwise backward shaders
// (gelu_bwd, swiglu_bwd, relu_bwd, scalecols_bwd).
type gradParams struct {
	N, Row     uint32 // elements, and elements per grid row (see flatGrid)
	Accumulate uint32
}

// flag is a bool as the shaders' u32 Params fields hold it.
func flag(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// A parameter gradient summed over rows (a norm's dweight and dbias,
// ScaleCols' ds) takes two passes, since WGSL has no f32 atomics: the first
// writes one (cols) plane of partial sums per block of rows into a scratch
// buffer, and blocksum_final.wgsl adds the planes.
const (
	// gradBlockRows is the fewest rows in a block: a row block's loop is
	// then short, and 4096 rows still make 128 blocks of parallel work.
	gradBlockRows = 32
	// gradMaxBlocks bounds the planes blocksum_final adds per column; past
	// gradMaxBlocks*gradBlockRows rows the blocks grow instead. Both loops
	// stay far below lavapipe's 65535-trip cut-off for any row count.
	gradMaxBlocks = 1024
	// blockWG is the workgroup size (const WG) of blocksum_final.wgsl and
	// of the first passes that feed it.
	blockWG = 256
)

// gradBlocks splits rows into blocks of per rows (the last may be short).
func gradBlocks(rows int) (per, blocks int) {
	per = max(gradBlockRows, (rows+gradMaxBlocks-1)/gradMaxBlocks)
	return per, (rows + per - 1) / per
}

// GradScratchFloats is the size in float32s of the scratch buffer that a
// backward needs to sum grads parameter gradients of cols values over rows
// rows: NormBackward.RMSNorm and ScaleCols.Backward take grads = 1,
// NormBackward.LayerNorm grads = 2 (dweight and dbias). One scratch can
// serve every layer of a model in turn: the passes that use it are
// recorded back to back.
func GradScratchFloats(rows, cols, grads int) int {
	_, blocks := gradBlocks(rows)
	return grads * blocks * cols
}

// blockSum is blocksum_final.wgsl, the second pass of every parameter
// gradient summed over rows.
type blockSum struct {
	d *gpu.Device
	k *gpu.Kernel
}

type blockSumParams struct{ Cols, Blocks, Offset, Accumulate, Row uint32 }

func newBlockSum(d *gpu.Device) (*blockSum, error) {
	k, err := d.Kernel("blocksum_final.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &blockSum{d: d, k: k}, nil
}

// call returns the call out[c] (+)= sum over the row blocks of rows of
// partials[offset + k*cols + c], for c < cols.
func (b *blockSum) call(out, partials *gpu.Buffer, offset, rows, cols int, accumulate bool) (*gpu.Call, error) {
	_, blocks := gradBlocks(rows)
	if err := needFloats(b.k.Name+" partials", offset+blocks*cols, partials); err != nil {
		return nil, err
	}
	if err := needFloats(b.k.Name+" out", cols, out); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(b.d, cols, blockWG)
	if err != nil {
		return nil, err
	}
	p := blockSumParams{Cols: uint32(cols), Blocks: uint32(blocks), Offset: uint32(offset), Accumulate: flag(accumulate), Row: row}
	return b.k.Call(grid, p, partials, out)
}

// blockGrid checks the shape of a first pass over (rows, cols) and returns
// its grid (one invocation per column in x, one row block per y) and the
// rows per block.
func blockGrid(d *gpu.Device, kernel string, rows, cols int) (gpu.Grid, int, error) {
	per, blocks := gradBlocks(rows)
	x := (cols + blockWG - 1) / blockWG
	if lim := int(d.Limits.MaxComputeWorkgroupsPerDimension); x > lim || blocks > lim {
		return gpu.Grid{}, 0, fmt.Errorf("ops: %s: %d columns in %d row blocks do not fit a %d x %d grid", kernel, cols, blocks, lim, lim)
	}
	return gpu.Grid{X: uint32(x), Y: uint32(blocks), Z: 1}, per, nil
}

// dispatchAll records the calls of a multi-pass op in order (see dispatch).
func (rec *recording) dispatchAll(cs []*gpu.Call, err error) {
	if err != nil {
		rec.dispatch(nil, err)
		return
	}
	for _, c := range cs {
		rec.dispatch(c, nil)
	}
}

// backwardCases are the parity checks of the backward ops and of the
// forward ops that came with them (ReLU, ScaleCols, Dropout).
func backwardCases() []Case {
	var all []Case
	all = append(all, normBackwardCases()...)
	all = append(all, actBackwardCases()...)
	all = append(all, reluCases()...)
	all = append(all, tanhCases()...)
	all = append(all, splitBlocksCases()...)
	all = append(all, embedBwdCases()...)
	all = append(all, ropeBackwardCases()...)
	all = append(all, scaleColsCases()...)
	all = append(all, dropoutCases()...)
	all = append(all, vocabBackwardCases()...)
	return all
}

// accumulateInit returns the initial content of a gradient output for a
// backward case: with accumulate, seeded values for the gradient to be
// added to; without, other seeded values that the kernel must overwrite
// (zeros would hide a kernel that adds). The ref twins accumulate, so want
// starts from init or from zeros.
func accumulateInit(seed uint64, n int, accumulate bool) (init, want []float32) {
	init = seededF32(seed, n, 1)
	want = make([]float32, n)
	if accumulate {
		copy(want, init)
	}
	return init, want
}

// newGuardedInits makes one guarded output per label, labelled
// "label what", holding inits[i] (see NewGuarded).
func newGuardedInits(d *gpu.Device, what string, labels []string, inits [][]float32) ([]*Guarded, error) {
	var gs []*Guarded
	for i, l := range labels {
		g, err := NewGuarded(d, l+" "+what, len(inits[i]), inits[i])
		if err != nil {
			freeGuardeds(gs)
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// mulAddTol is for an f32 multiply then an add (a gradient accumulated
// into its output): a compiler may fuse them into one FMA, and the ref
// rounds them separately, so results may differ by 1 ulp.
var mulAddTol = Tol{Abs: 2e-7, Rel: 2e-7}

// accumulateName names a case's mode.
func accumulateName(accumulate bool) string {
	if accumulate {
		return "accumulate"
	}
	return "overwrite"
}
