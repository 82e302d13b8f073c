package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// VocabBackward launches vocab_bwd.wgsl, the backward pass of Vocab's
// chunked cross-entropy fused with its softmax: given the chunk records
// that Vocab.Partial wrote for every chunk in the forward pass, the
// gradient of one logits chunk needs no other chunk's logits, so an LM head
// split by vocabulary rows can run its backward chunk by chunk too. One
// workgroup per row. The kernel is built once, in NewVocabBackward.
type VocabBackward struct {
	d *gpu.Device
	k *gpu.Kernel
}

type vocabBwdParams struct{ Rows, Cols, Col0, Chunks, Accumulate uint32 }

// NewVocabBackward builds the vocab backward kernel on d.
func NewVocabBackward(d *gpu.Device) (*VocabBackward, error) {
	r := gpu.Read
	k, err := d.Kernel("vocab_bwd.wgsl", rowReduce, r, r, r, r, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &VocabBackward{d: d, k: k}, nil
}

// Call returns the call that writes the gradient of a logits chunk (rows,
// cols) row-major, whose column j is vocabulary id col0+j
// (ref.CrossEntropyBackward on the whole row, this chunk's columns of it):
//
//	dlogits[r, j] (+)= (softmax(whole row r)[col0+j] - [col0+j == targets[r]]) * dloss[r]
//
// The row's log-sum-exp comes from its chunks records in partials, every
// one written by Vocab.Partial in the forward pass (PartialFloats(rows,
// chunks) words). targets is rows u32 ids as NewTargets uploads them; a
// masked row (0xFFFFFFFF) gets no gradient: 0, or dlogits unchanged with
// accumulate. dloss is rows f32: the loss's gradient with respect to each
// row's loss (1/n for a mean over n unmasked rows; 0 drops a row).
// accumulate adds the gradient to dlogits, otherwise it is overwritten.
// dlogits must not be logits.
func (v *VocabBackward) Call(dlogits, logits, targets, partials, dloss *gpu.Buffer, rows, cols, col0, chunks int) (*gpu.Call, error) {
	return v.call(dlogits, logits, targets, partials, dloss, rows, cols, col0, chunks, false)
}

// Accumulate is Call with accumulate = true: dlogits += the gradient.
func (v *VocabBackward) Accumulate(dlogits, logits, targets, partials, dloss *gpu.Buffer, rows, cols, col0, chunks int) (*gpu.Call, error) {
	return v.call(dlogits, logits, targets, partials, dloss, rows, cols, col0, chunks, true)
}

func (v *VocabBackward) call(dlogits, logits, targets, partials, dloss *gpu.Buffer, rows, cols, col0, chunks int, accumulate bool) (*gpu.Call, error) {
	name := v.k.Name
	if cols <= 0 || cols > vocabMaxCols {
		return nil, fmt.Errorf("ops: %s: %d columns is outside 1..%d", name, cols, vocabMaxCols)
	}
	if col0 < 0 || col0 > maxElems-cols {
		return nil, fmt.Errorf("ops: %s: ids %d..%d are outside 0..%d", name, col0, col0+cols-1, maxElems-1)
	}
	if chunks <= 0 || chunks > vocabMaxChunks {
		return nil, fmt.Errorf("ops: %s: %d chunks is outside 1..%d", name, chunks, vocabMaxChunks)
	}
	if rows <= 0 || rows > maxElems/cols || rows > maxElems/(chunks*vocabPartialWords) {
		return nil, fmt.Errorf("ops: %s: %d rows of %d columns in %d chunks: too many or none", name, rows, cols, chunks)
	}
	if err := needFloats(name+" logits", rows*cols, logits, dlogits); err != nil {
		return nil, err
	}
	if err := needFloats(name+" partials", PartialFloats(rows, chunks), partials); err != nil {
		return nil, err
	}
	if err := needFloats(name+" dloss", rows, dloss); err != nil {
		return nil, err
	}
	if err := needIDs(name, rows, targets); err != nil {
		return nil, err
	}
	grid, err := groupGrid(v.d, rows)
	if err != nil {
		return nil, err
	}
	p := vocabBwdParams{Rows: uint32(rows), Cols: uint32(cols), Col0: uint32(col0), Chunks: uint32(chunks), Accumulate: flag(accumulate)}
	return v.k.Call(grid, p, logits, targets, partials, dloss, dlogits)
}

// vocabBwdTol: each softmax share p is exp (a few ulp) times 1/S, S the
// f32 sum over the chunks' records (xentTol's sums), so Rel; Abs covers
// shares that underflow. vocabTargetTol is for the target's entry, p - 1:
// when p is near 1 (a confident prediction), 1/S in f32 is only within
// 2^-24 of the true p, so p - 1 cancels to an absolute error of ~2^-24
// times |dloss| (<= 1 in the cases) whatever its size.
var (
	vocabBwdTol    = Tol{Abs: 1e-9, Rel: 1e-5}
	vocabTargetTol = Tol{Abs: 1.2e-7, Rel: 1e-5}
)

// vocabBackwardCases check the chunked backward against
// ref.CrossEntropyBackward (float64) on whole rows, every chunk's records
// written by Vocab.Partial on the GPU as in training: one chunk and uneven
// ones (1000 as 384+384+232, widths from 1 to 300), +-1000 offsets and a
// spread of 1000, Qwen2's 152064 ids in one chunk and in two, with masked
// rows, rows whose dloss is 0 and a confident row (plantConfident), with
// and without accumulate.
func vocabBackwardCases() []Case {
	odd := []vocabRows{
		{rows: 7, splits: []int{1000}, spread: 2},
		{rows: 7, splits: []int{384, 384, 232}, spread: 2},
		{rows: 3, splits: []int{384, 384, 232}, spread: 2, offset: 1000},
		{rows: 3, splits: []int{384, 384, 232}, spread: 2, offset: -1000},
		{rows: 3, splits: []int{384, 384, 232}, spread: 1000},
		{rows: 5, splits: []int{1, 2, 37, 300, 1}, spread: 20},
		{rows: 37, splits: []int{257, 3}, spread: 2},
	}
	vocab := []vocabRows{
		{rows: 3, splits: []int{152064}, spread: 2},
		{rows: 3, splits: []int{81920, 70144}, spread: 2},
	}
	var cases []Case
	for _, acc := range []bool{false, true} {
		cases = append(cases,
			Case{"vocab-bwd/1000-in-1-and-uneven-chunks/" + accumulateName(acc),
				func(d *gpu.Device) error { return checkVocabBackward(d, odd, acc) }},
			Case{"vocab-bwd/152064-in-1-and-2-chunks/" + accumulateName(acc),
				func(d *gpu.Device) error { return checkVocabBackward(d, vocab, acc) }})
	}
	return cases
}

// vocabDloss returns each row's dloss: 1/n over the n unmasked rows, but
// 0 for row 4 and -0.7 for row 6 where there are rows for them.
func vocabDloss(targets []int) []float32 {
	n := 0
	for _, t := range targets {
		if t >= 0 {
			n++
		}
	}
	dl := make([]float32, len(targets))
	for r := range dl {
		dl[r] = 1 / float32(max(n, 1))
	}
	for r, v := range map[int]float32{4: 0, 6: -0.7} {
		if r < len(dl) {
			dl[r] = v
		}
	}
	return dl
}

// plantConfident raises row's logit of target 25 above the row's max: a
// confident prediction, whose share is 1 - O(V e^-25), where p - 1 cancels.
func plantConfident(row []float32, target int) {
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	row[target] = m + 25
}

func checkVocabBackward(d *gpu.Device, inputs []vocabRows, accumulate bool) error {
	fwd, err := NewVocab(d)
	if err != nil {
		return err
	}
	bwd, err := NewVocabBackward(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "vocab backward")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	var targetsAt [][]int // per output, where its rows' targets are
	var bufs []*gpu.Buffer
	defer func() { freeBuffers(bufs) }()
	for i, in := range inputs {
		rows, V, chunks := in.rows, in.vocab(), len(in.splits)
		g := newSeeded(uint64(2900 + i))
		logits := g.next(rows*V, in.spread)
		for j := range logits {
			logits[j] += in.offset
		}
		targets := vocabTargets(g, rows, in.splits)
		if rows > 2 {
			plantConfident(logits[2*V:3*V], targets[2])
		}
		dloss := vocabDloss(targets)
		init, w := accumulateInit(uint64(3000+i), rows*V, accumulate)
		w64 := normF64(w)
		ref.CrossEntropyBackward(w64, normF64(dloss), normF64(logits), targets, rows, V)
		w = normF32(w64)

		bt, err := NewTargets(d, "targets "+in.String(), targets, V)
		if err != nil {
			return err
		}
		bufs = append(bufs, bt)
		bd, err := inputBuffer(d, "dloss "+in.String(), dloss)
		if err != nil {
			return err
		}
		bufs = append(bufs, bd)
		partials, err := d.NewBuffer("partials "+in.String(), 4*uint64(PartialFloats(rows, chunks)))
		if err != nil {
			return err
		}
		bufs = append(bufs, partials)

		// The chunks as the split LM head leaves them: (rows, cols) each.
		var chunkLogits []*gpu.Buffer
		col0 := 0
		for k, cols := range in.splits {
			part, initPart, wantPart := make([]float32, 0, rows*cols), make([]float32, 0, rows*cols), make([]float32, 0, rows*cols)
			for r := range rows {
				part = append(part, logits[r*V+col0:r*V+col0+cols]...)
				initPart = append(initPart, init[r*V+col0:r*V+col0+cols]...)
				wantPart = append(wantPart, w[r*V+col0:r*V+col0+cols]...)
			}
			bl, err := inputBuffer(d, fmt.Sprintf("logits %v chunk %d", in, k), part)
			if err != nil {
				return err
			}
			bufs, chunkLogits = append(bufs, bl), append(chunkLogits, bl)
			rec.dispatch(fwd.Partial(partials, bl, bt, rows, cols, col0, k, chunks))
			out, err := NewGuarded(d, fmt.Sprintf("dlogits %v chunk %d", in, k), rows*cols, initPart)
			if err != nil {
				return err
			}
			outs, want = append(outs, out), append(want, wantPart)
			var at []int
			for r, t := range targets {
				if t >= col0 && t < col0+cols {
					at = append(at, r*cols+t-col0)
				}
			}
			targetsAt = append(targetsAt, at)
			col0 += cols
		}
		// Every chunk's record is written before any chunk's backward.
		col0 = 0
		for k, cols := range in.splits {
			out := outs[len(outs)-chunks+k].View
			if accumulate {
				rec.dispatch(bwd.Accumulate(out, chunkLogits[k], bt, partials, bd, rows, cols, col0, chunks))
			} else {
				rec.dispatch(bwd.Call(out, chunkLogits[k], bt, partials, bd, rows, cols, col0, chunks))
			}
			col0 += cols
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	// The target entries (vocabTargetTol) apart from the rest (vocabBwdTol).
	var targetOuts, targetWant [][]float32
	for k, out := range outs {
		got, err := out.Read()
		if err != nil {
			return err
		}
		var tg, tw []float32
		for _, at := range targetsAt[k] {
			tg, tw = append(tg, got[at]), append(tw, want[k][at])
			got[at], want[k][at] = 0, 0
		}
		targetOuts, targetWant = append(targetOuts, tg), append(targetWant, tw)
		if err := Close(out.View.Label, got, want[k], vocabBwdTol); err != nil {
			return err
		}
	}
	for k, out := range outs {
		if err := Close(out.View.Label+" target entries", targetOuts[k], targetWant[k], vocabTargetTol); err != nil {
			return err
		}
	}
	return nil
}
