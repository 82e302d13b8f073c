package ops

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
)

// Vocab launches the chunked cross-entropy and argmax over a vocabulary
// whose logits come chunk by chunk (vocab_partial_fwd.wgsl once per chunk,
// then vocab_final_fwd.wgsl): an LM head too large for one storage binding
// is split by vocabulary rows, and the (rows, V) logits need never exist
// when only the loss and the argmax are wanted. Each chunk leaves a small
// record per row (its max, sum of exp, target logit, argmax) in a partials
// buffer, and Final combines a row's records. The kernels are built once,
// in NewVocab.
type Vocab struct {
	d              *gpu.Device
	partial, final *gpu.Kernel
}

const (
	vocabWG = 256 // const WG of both vocab shaders
	// vocabMaxCols keeps each of vocab_partial_fwd's column loops at no
	// more than 16384 trips per invocation, far below lavapipe's 65535
	// cut-off (a 152064-id chunk is 594 trips).
	vocabMaxCols = vocabWG * 16384
	// vocabMaxChunks bounds vocab_final_fwd's two loops over a row's records.
	vocabMaxChunks = 4096
	// vocabPartialWords is the size of one record (struct Partial in both
	// shaders) in 4-byte words: max_logit, sum_exp, target_logit (f32),
	// has_target, argmax (u32).
	vocabPartialWords = 5
)

type vocabPartialParams struct{ Rows, Cols, Col0, Chunk, Chunks uint32 }

type vocabFinalParams struct {
	Rows, Chunks uint32
	Row          uint32 // rows per grid row (see flatGrid)
}

// NewVocab builds both vocab kernels on d.
func NewVocab(d *gpu.Device) (*Vocab, error) {
	partial, err := d.Kernel("vocab_partial_fwd.wgsl", rowReduce, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	final, err := d.Kernel("vocab_final_fwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Vocab{d: d, partial: partial, final: final}, nil
}

// PartialFloats is the size in 4-byte words of the partials buffer that
// Partial and Final share for rows rows split into chunks chunks: one
// record of vocabPartialWords words per (row, chunk), row-major.
func PartialFloats(rows, chunks int) int { return rows * chunks * vocabPartialWords }

// Partial returns the call that reads a logits chunk (rows, cols)
// row-major, whose column c is vocabulary id col0+c, and writes record
// `chunk` (0..chunks-1) of each row r into partials: the chunk's max m, the
// sum of exp(l - m) over the chunk, the logit of targets[r] when col0 <=
// targets[r] < col0+cols, and the chunk's argmax id (the lowest id on
// ties). targets is rows u32 ids as NewTargets uploads them (0xFFFFFFFF,
// i.e. -1, masks a row; no chunk holds it). partials holds
// PartialFloats(rows, chunks) words. The chunks of one row may be recorded
// in any order, into separate logits buffers or one reused buffer, before
// Final.
func (v *Vocab) Partial(partials, logits, targets *gpu.Buffer, rows, cols, col0, chunk, chunks int) (*gpu.Call, error) {
	name := v.partial.Name
	if cols <= 0 || cols > vocabMaxCols {
		return nil, fmt.Errorf("ops: %s: %d columns is outside 1..%d", name, cols, vocabMaxCols)
	}
	if col0 < 0 || col0 > maxElems-cols {
		return nil, fmt.Errorf("ops: %s: ids %d..%d are outside 0..%d", name, col0, col0+cols-1, maxElems-1)
	}
	if chunks <= 0 || chunks > vocabMaxChunks || chunk < 0 || chunk >= chunks {
		return nil, fmt.Errorf("ops: %s: chunk %d of %d: want 0 <= chunk < chunks <= %d", name, chunk, chunks, vocabMaxChunks)
	}
	if rows <= 0 || rows > maxElems/cols || rows > maxElems/(chunks*vocabPartialWords) {
		return nil, fmt.Errorf("ops: %s: %d rows of %d columns in %d chunks: too many or none", name, rows, cols, chunks)
	}
	if err := needFloats(name+" logits", rows*cols, logits); err != nil {
		return nil, err
	}
	if err := needFloats(name+" partials", PartialFloats(rows, chunks), partials); err != nil {
		return nil, err
	}
	if err := needIDs(name, rows, targets); err != nil {
		return nil, err
	}
	grid, err := groupGrid(v.d, rows)
	if err != nil {
		return nil, err
	}
	p := vocabPartialParams{Rows: uint32(rows), Cols: uint32(cols), Col0: uint32(col0), Chunk: uint32(chunk), Chunks: uint32(chunks)}
	return v.partial.Call(grid, p, logits, targets, partials)
}

// Final returns the call that combines each row's chunk records in
// partials (every one written by a Partial call) into
//
//	losses[r] = logsumexp over the whole vocabulary - the target's logit
//	argmax[r] = id of the row's largest logit, the lowest id on ties (u32)
//
// for r < rows (ref.CrossEntropyForward on the whole row, and its argmax).
// losses[r] is 0 when no chunk held targets[r] (a masked row). losses and
// argmax hold rows values each and must be different buffers.
func (v *Vocab) Final(losses, argmax, partials *gpu.Buffer, rows, chunks int) (*gpu.Call, error) {
	name := v.final.Name
	if chunks <= 0 || chunks > vocabMaxChunks {
		return nil, fmt.Errorf("ops: %s: %d chunks is outside 1..%d", name, chunks, vocabMaxChunks)
	}
	if rows <= 0 || rows > maxElems/(chunks*vocabPartialWords) {
		return nil, fmt.Errorf("ops: %s: %d rows of %d chunks: too many or none", name, rows, chunks)
	}
	if err := needFloats(name+" partials", PartialFloats(rows, chunks), partials); err != nil {
		return nil, err
	}
	if err := needFloats(name+" losses", rows, losses); err != nil {
		return nil, err
	}
	if err := needIDs(name+" argmax", rows, argmax); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(v.d, rows, vocabWG)
	if err != nil {
		return nil, err
	}
	p := vocabFinalParams{Rows: uint32(rows), Chunks: uint32(chunks), Row: row}
	return v.final.Call(grid, p, partials, losses, argmax)
}

// vocabTol is xentTol: the chunk sums are the same f32 workgroup sums as
// crossentropy_fwd's, and combining them adds one exp and one multiply-add
// per chunk, a few ulp of S; log(S) turns that into ~1e-6 absolute, well
// inside Abs, and Rel covers the rounding of losses in the thousands
// (spread 1000).
var vocabTol = xentTol

// vocabRows is one input of a vocab case: rows x V logits in [-spread,
// spread) shifted by offset, split into chunks of the widths in splits (in
// id order). With ties, the logits are small integers with planted maxima
// (vocabTies) and the chunk records are written in reverse id order.
type vocabRows struct {
	rows           int
	splits         []int
	spread, offset float32
	ties           bool
}

func (s vocabRows) vocab() int {
	V := 0
	for _, w := range s.splits {
		V += w
	}
	return V
}

func (s vocabRows) String() string {
	if s.ties {
		return fmt.Sprintf("%dx%v ties", s.rows, s.splits)
	}
	return fmt.Sprintf("%dx%v spread %g offset %g", s.rows, s.splits, s.spread, s.offset)
}

// vocabCases check the chunked loss against ref.CrossEntropyForward
// (float64) on whole rows within vocabTol, and the argmax Exact, for one
// chunk and uneven ones: chunks narrower than a workgroup, +-1000 offsets
// and spreads that would overflow exp without the max subtraction, Qwen2's
// 152064 ids in one chunk and in two, and argmax ties inside a chunk,
// across invocations, across a chunk boundary and across chunks whose
// records are out of id order.
func vocabCases() []Case {
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
		{rows: 3, splits: []int{81920, 70144}, spread: 1000},
	}
	ties := []vocabRows{{rows: 5, splits: []int{384, 384, 232}, ties: true}}
	return []Case{
		{"vocab/1000-in-1-and-uneven-chunks", func(d *gpu.Device) error { return checkVocab(d, odd) }},
		{"vocab/152064-in-1-and-2-chunks", func(d *gpu.Device) error { return checkVocab(d, vocab) }},
		{"vocab/argmax-ties", func(d *gpu.Device) error { return checkVocab(d, ties) }},
	}
}

// vocabTies returns rows x V logits in -2..2 (or all 0 for row 0), with 3
// planted at ids that test the tie-breaks: row 1 in two chunks (500, 700,
// 900), row 2 on either side of the first chunk boundary (383, 384), row 3
// at ids one invocation visits (10, 266), another invocation (137) and a
// later chunk (700), row 4 at the last id only.
func vocabTies(g seeded, rows, V int) []float32 {
	x := g.ints(rows*V, 2)
	clear(x[:V])
	planted := [][]int{nil, {900, 700, 500}, {384, 383}, {700, 266, 137, 10}, {V - 1}}
	for r := 1; r < rows; r++ {
		for _, id := range planted[r%len(planted)] {
			x[r*V+id] = 3
		}
	}
	return x
}

// vocabTargets returns xentTargets (every third row from row 1 masked, row
// 0's target V-1) with ids at chunk edges where there are rows for them:
// row 2 the first id of the second chunk, row 3 the last id of the first,
// row 5 id 0.
func vocabTargets(g seeded, rows int, splits []int) []int {
	V := 0
	for _, w := range splits {
		V += w
	}
	t := xentTargets(g, rows, V)
	edges := map[int]int{2: min(splits[0], V-1), 3: splits[0] - 1, 5: 0}
	for r, id := range edges {
		if r < rows {
			t[r] = id
		}
	}
	return t
}

func checkVocab(d *gpu.Device, inputs []vocabRows) error {
	v, err := NewVocab(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "vocab")
	var losses, argmaxes []*Guarded
	defer func() { freeGuardeds(losses); freeGuardeds(argmaxes) }()
	wantLoss := make([][]float32, len(inputs))
	wantArg := make([][]int, len(inputs))
	for i, in := range inputs {
		rows, V, chunks := in.rows, in.vocab(), len(in.splits)
		g := newSeeded(uint64(700 + i))
		var logits []float32
		if in.ties {
			logits = vocabTies(g, rows, V)
		} else {
			logits = g.next(rows*V, in.spread)
			for j := range logits {
				logits[j] += in.offset
			}
		}
		targets := vocabTargets(g, rows, in.splits)
		bt, err := NewTargets(d, "targets "+in.String(), targets, V)
		if err != nil {
			return err
		}
		defer bt.Free()
		partials, err := d.NewBuffer("partials "+in.String(), 4*uint64(PartialFloats(rows, chunks)))
		if err != nil {
			return err
		}
		defer partials.Free()
		loss, err := NewGuarded(d, "vocab losses "+in.String(), rows, nil)
		if err != nil {
			return err
		}
		losses = append(losses, loss)
		arg, err := NewGuarded(d, "vocab argmax "+in.String(), rows, nil)
		if err != nil {
			return err
		}
		argmaxes = append(argmaxes, arg)

		col0 := 0
		for k, cols := range in.splits {
			// The chunk's logits as the split LM head leaves them: (rows, cols).
			part := make([]float32, 0, rows*cols)
			for r := range rows {
				part = append(part, logits[r*V+col0:r*V+col0+cols]...)
			}
			bl, err := inputBuffer(d, fmt.Sprintf("logits %v chunk %d", in, k), part)
			if err != nil {
				return err
			}
			defer bl.Free()
			chunk := k
			if in.ties {
				chunk = chunks - 1 - k
			}
			rec.dispatch(v.Partial(partials, bl, bt, rows, cols, col0, chunk, chunks))
			col0 += cols
		}
		rec.dispatch(v.Final(loss.View, arg.View, partials, rows, chunks))
		wantLoss[i] = xentRef(logits, targets, rows, V)
		wantArg[i] = argmaxRef(logits, rows, V)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	if err := checkGuardeds(losses, wantLoss, vocabTol); err != nil {
		return err
	}
	for i, g := range argmaxes {
		got, err := g.Read()
		if err != nil {
			return err
		}
		if err := sameIDs(g.View.Label, got, wantArg[i]); err != nil {
			return err
		}
	}
	return nil
}

// argmaxRef returns the first column of each row's largest value.
func argmaxRef(x []float32, rows, cols int) []int {
	out := make([]int, rows)
	for r := range rows {
		xr := x[r*cols : (r+1)*cols]
		for c, v := range xr {
			if v > xr[out[r]] {
				out[r] = c
			}
		}
	}
	return out
}

// sameIDs checks u32 ids read back as float32 words against want, exactly.
func sameIDs(what string, got []float32, want []int) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d ids, want %d", what, len(got), len(want))
	}
	var bad []string
	for i, w := range want {
		if g := math.Float32bits(got[i]); int64(g) != int64(w) {
			bad = append(bad, fmt.Sprintf("[%d] got %d want %d", i, g, w))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %d of %d ids differ: %v", what, len(bad), len(want), bad[:min(5, len(bad))])
	}
	return nil
}
