package model

import (
	"fmt"

	"webpeft/engine/gpu"
)

// A token embedding larger than one storage binding is gathered chunk by
// chunk: the table is split into views of whole 256-row blocks (no copy),
// each chunk gathers every token with its ids shifted into the chunk
// (clamped: rows of other chunks come out wrong and are never used), and a
// copy per token takes its row from the chunk that holds it. The ids are
// known on the host at each run, so the copies are chosen then.

// chunkEmbed splits the token embedding when it is larger than limit
// bytes (or than rows rows, for tests); it leaves embdChunks nil when the
// table fits.
func (g *GPU) chunkEmbed(limit uint64, rows int) error {
	w := g.embd
	per := w.bindingRows(limit)
	if rows > 0 {
		per = min(per, max(256, rows/256*256))
	}
	if per >= w.N {
		return nil
	}
	for r0 := 0; r0 < w.N; r0 += per {
		v, err := w.rows(r0, min(per, w.N-r0))
		if err != nil {
			return err
		}
		g.embdChunks = append(g.embdChunks, v)
		g.embdRow = append(g.embdRow, r0)
	}
	return nil
}

// splitGather gathers n token rows from a chunked embedding.
type splitGather struct {
	g       *GPU
	n       int
	ids     []*gpu.Buffer // per chunk: (n) u32 ids shifted into the chunk
	scratch []*gpu.Buffer // per chunk: (n, C)
	chunkOf []int         // per token: the chunk holding its row (set by upload)
}

// newSplitGather allocates the per-chunk buffers with alloc, or returns
// nil when the embedding is not chunked.
func newSplitGather(g *GPU, n int, alloc func(label string, floats int) *gpu.Buffer) *splitGather {
	if len(g.embdChunks) == 0 {
		return nil
	}
	s := &splitGather{g: g, n: n, chunkOf: make([]int, n)}
	for c := range g.embdChunks {
		s.ids = append(s.ids, alloc(fmt.Sprintf("embed.ids.%d", c), n))
		s.scratch = append(s.scratch, alloc(fmt.Sprintf("embed.rows.%d", c), n*g.Spec.Hidden))
	}
	return s
}

// upload writes each chunk's shifted ids for tokens (n ids below V).
func (s *splitGather) upload(tokens []uint32) error {
	for c, w := range s.g.embdChunks {
		r0 := s.g.embdRow[c]
		shifted := make([]uint32, s.n)
		for i, id := range tokens {
			if int(id) >= r0 && int(id) < r0+w.N {
				shifted[i], s.chunkOf[i] = id-uint32(r0), c
			}
		}
		if err := s.ids[c].UploadU32(0, shifted); err != nil {
			return err
		}
	}
	return nil
}

// calls returns the chunk gathers; copies then moves each token's row
// from its chunk's scratch into dst.
func (s *splitGather) calls() ([]*gpu.Call, error) {
	var cs []*gpu.Call
	for c, w := range s.g.embdChunks {
		call, err := s.g.k.gather(s.scratch[c], w, s.ids[c], s.n)
		if err != nil {
			return nil, err
		}
		cs = append(cs, call)
	}
	return cs, nil
}

func (s *splitGather) copies(r *gpu.Recorder, dst *gpu.Buffer) {
	row := 4 * uint64(s.g.Spec.Hidden)
	for i, c := range s.chunkOf {
		r.Copy(s.scratch[c], uint64(i)*row, dst, uint64(i)*row, row)
	}
}
