package train

import (
	"fmt"
	"math/rand/v2"

	"webpeft/engine/model"
)

// Split moves a seeded random fraction of the examples (at least one
// when frac > 0 and there are two or more) into a validation set.
func Split(ex []Example, frac float64, seed uint64) (trainSet, val []Example) {
	if frac <= 0 || len(ex) < 2 {
		return ex, nil
	}
	idx := rand.New(rand.NewPCG(seed, 0x5b1)).Perm(len(ex))
	n := min(max(1, int(frac*float64(len(ex))+0.5)), len(ex)-1)
	for i, j := range idx {
		if i < n {
			val = append(val, ex[j])
		} else {
			trainSet = append(trainSet, ex[j])
		}
	}
	return trainSet, val
}

// Batcher deals examples into batches of B sequences of T tokens, in a
// seeded order reshuffled every epoch, right-padded (padding has no
// loss). Its position (Epoch, Next) is part of a checkpoint.
type Batcher struct {
	Examples []Example
	B, T     int
	Seed     uint64
	Epoch    int // completed passes over the examples
	Next     int // position in this epoch's order
	order    []int
}

// NewBatcher checks the shape and starts at the first epoch.
func NewBatcher(ex []Example, B, T int, seed uint64) (*Batcher, error) {
	if len(ex) == 0 {
		return nil, fmt.Errorf("train: no examples")
	}
	if B < 1 || T < 1 {
		return nil, fmt.Errorf("train: batch %d x %d", B, T)
	}
	return &Batcher{Examples: ex, B: B, T: T, Seed: seed}, nil
}

// perm is the order of an epoch, a function of the seed and the epoch
// only, so that a resumed run deals the same batches.
func (b *Batcher) perm(epoch int) []int {
	return rand.New(rand.NewPCG(b.Seed, uint64(epoch)+1)).Perm(len(b.Examples))
}

// Batch returns the next batch, moving to the next epoch when this one
// is dealt.
func (b *Batcher) Batch() model.Batch {
	if b.order == nil {
		b.order = b.perm(b.Epoch)
	}
	batch := model.Batch{Tokens: make([]int, b.B*b.T), Targets: make([]int, b.B*b.T)}
	for s := 0; s < b.B; s++ {
		if b.Next >= len(b.order) {
			b.Epoch, b.Next = b.Epoch+1, 0
			b.order = b.perm(b.Epoch)
		}
		fill(batch, s, b.T, b.Examples[b.order[b.Next]])
		b.Next++
	}
	return batch
}

// fill writes example e as sequence s of the batch: inputs e[0:T],
// targets e[1:T+1] where the loss mask is set, -1 elsewhere.
func fill(batch model.Batch, s, T int, e Example) {
	for i := 0; i < T; i++ {
		j := s*T + i
		batch.Tokens[j], batch.Targets[j] = 0, -1
		if i < len(e.Tokens) {
			batch.Tokens[j] = e.Tokens[i]
		}
		if i+1 < len(e.Tokens) && e.Loss[i+1] {
			batch.Targets[j] = e.Tokens[i+1]
		}
	}
}

// Batches deals every example once in order (validation), the last
// batch padded with empty sequences.
func Batches(ex []Example, B, T int) []model.Batch {
	var out []model.Batch
	for i := 0; i < len(ex); i += B {
		batch := model.Batch{Tokens: make([]int, B*T), Targets: make([]int, B*T)}
		for s := 0; s < B; s++ {
			e := Example{}
			if i+s < len(ex) {
				e = ex[i+s]
			}
			fill(batch, s, T, e)
		}
		out = append(out, batch)
	}
	return out
}
