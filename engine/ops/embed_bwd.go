package ops

import (
	"fmt"
	"slices"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// EmbedBackward launches embed_bwd.wgsl, the token embedding's gradient
// for full-parameter training: each distinct token's rows of the output
// gradient summed into its row of the table's gradient. The grouping by
// token is done on the host (EmbedGroups), where the tokens are anyway,
// so the kernel needs no atomics and sums in a fixed order.
type EmbedBackward struct {
	d *gpu.Device
	k *gpu.Kernel
}

type embedBwdParams struct{ Elems, Cols, Row uint32 }

// NewEmbedBackward builds the kernel on d.
func NewEmbedBackward(d *gpu.Device) (*EmbedBackward, error) {
	r := gpu.Read
	k, err := d.Kernel("embed_bwd.wgsl", nil, r, r, r, r, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &EmbedBackward{d: d, k: k}, nil
}

// EmbedGroups groups n = len(tokens) rows by token for EmbedBackward:
// ids (n) the distinct tokens in ascending order, starts (n+1) each
// group's first index into order, order (n) the rows of each token in
// ascending order. Groups past the distinct tokens are empty.
func EmbedGroups(tokens []int) (ids, starts, order []uint32) {
	n := len(tokens)
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	slices.SortStableFunc(rows, func(a, b int) int { return tokens[a] - tokens[b] })
	ids, starts, order = make([]uint32, n), make([]uint32, n+1), make([]uint32, n)
	u := 0
	for j, r := range rows {
		order[j] = uint32(r)
		if j == 0 || tokens[r] != tokens[rows[j-1]] {
			ids[u], starts[u] = uint32(tokens[r]), uint32(j)
			u++
		}
	}
	for ; u <= n; u++ {
		starts[u] = uint32(n)
	}
	return ids, starts, order
}

// Call returns dtable[tok] += the sum of dout's rows of token tok
// (ref.EncoderBackward with dwpe nil): ids, starts and order from
// EmbedGroups for n rows, dout (n, cols), dtable (vocab, cols).
func (e *EmbedBackward) Call(dtable, dout, ids, starts, order *gpu.Buffer, n, cols int) (*gpu.Call, error) {
	name := e.k.Name
	if n < 1 || cols < 1 || n > maxElems/cols {
		return nil, fmt.Errorf("ops: %s: %d rows of %d columns", name, n, cols)
	}
	if err := needFloats(name+" dout", n*cols, dout); err != nil {
		return nil, err
	}
	if err := needFloats(name+" ids, order", n, ids, order); err != nil {
		return nil, err
	}
	if err := needFloats(name+" starts", n+1, starts); err != nil {
		return nil, err
	}
	if err := needFloats(name+" dtable", cols, dtable); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(e.d, n*cols, elemWG)
	if err != nil {
		return nil, err
	}
	return e.k.Call(grid, embedBwdParams{Elems: uint32(n * cols), Cols: uint32(cols), Row: row}, ids, starts, order, dout, dtable)
}

// embedBwdTol: f32 sums of a token's rows in a fixed order against the
// float64 twin, then one addition to the table's gradient.
var embedBwdTol = Tol{Abs: 1e-6, Rel: 1e-5}

// embedBwdCases check repeated, absent and out-of-order tokens.
func embedBwdCases() []Case {
	return []Case{{Name: "embed-bwd/repeats-and-gaps", Run: checkEmbedBackward}}
}

func checkEmbedBackward(d *gpu.Device) error {
	e, err := NewEmbedBackward(d)
	if err != nil {
		return err
	}
	const V, C = 37, 19
	tokens := []int{5, 3, 5, 36, 0, 5, 3, 12, 12, 12, 12, 1, 0}
	n := len(tokens)
	g := newSeeded(2600)
	dout := g.next(n*C, 1)
	ids, starts, order := EmbedGroups(tokens)
	bufs, err := inputBuffers(d, "embed-bwd", dout)
	if err != nil {
		return err
	}
	defer freeBuffers(bufs)
	var idx []*gpu.Buffer
	for i, v := range [][]uint32{ids, starts, order} {
		b, err := d.NewBuffer(fmt.Sprintf("embed-bwd index %d", i), 4*uint64(len(v)))
		if err == nil {
			err = b.UploadU32(0, v)
		}
		if err != nil {
			return err
		}
		defer b.Free()
		idx = append(idx, b)
	}
	init := g.next(V*C, 1)
	out, err := NewGuarded(d, "embed-bwd dtable", V*C, init)
	if err != nil {
		return err
	}
	defer out.Free()
	rec := newRecording(d, "embed-bwd")
	rec.dispatch(e.Call(out.View, bufs[0], idx[0], idx[1], idx[2], n, C))
	if err := rec.submit(); err != nil {
		return err
	}
	want64, dout64 := make([]float64, V*C), make([]float64, n*C)
	for i, v := range init {
		want64[i] = float64(v)
	}
	for i, v := range dout {
		dout64[i] = float64(v)
	}
	ref.EncoderBackward(want64, nil, dout64, tokens, 1, n, C)
	want := make([]float32, V*C)
	for i, v := range want64 {
		want[i] = float32(v)
	}
	return checkGuardeds([]*Guarded{out}, [][]float32{want}, embedBwdTol)
}
