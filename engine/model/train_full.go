package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
)

// Full-parameter training (a set made by FullSet, on a model loaded with
// LoadOptions.Full): the trainer's parameter buffer is the model's own
// flat weights, and the backward pass adds, to what it does for PEFT,
// every weight's gradient:
//
//	linear y = x W^T:     dW += dy^T x        (gemm, accumulating)
//	RMSNorm weight w:     dw += sum over rows of dout * x * rstd
//	token embedding:      dE[tok] += dx0 rows of tok (ops.EmbedBackward)
//
// (a tied LM head adds its dW to the embedding's gradient, as the
// weights are one tensor). AdamW then updates all of them.

// fullState is a full-parameter trainer's extra state.
type fullState struct {
	grads  map[*gpu.Buffer]*gpu.Buffer // weight (a view of the flat params) -> its gradient view
	embedb *ops.EmbedBackward
	// The step's rows grouped by token for the embedding's backward pass,
	// uploaded with the tokens (ops.EmbedGroups).
	ids, starts, order *gpu.Buffer
}

// isFull reports whether set trains the whole model.
func isFull(set *peft.Set) bool {
	_, ok := set.Config(peft.Full)
	return ok
}

// checkFull checks a full set against the model and the trainer's shape.
func (t *Trainer) checkFull() error {
	if len(t.set.Configs) != 1 {
		return fmt.Errorf("model: full-parameter training cannot be combined with PEFT methods")
	}
	if t.g.full == nil || t.g.full.set.Size != t.set.Size {
		return fmt.Errorf("model: full-parameter training needs the model loaded with LoadOptions.Full of the same layout")
	}
	if t.g.embdChunks != nil {
		return fmt.Errorf("model: full-parameter training needs the token embedding in one storage binding")
	}
	return nil
}

// fullAlloc makes the full trainer's buffers; the parameters are the
// model's.
func (b *trainBuilder) fullAlloc() {
	t := b.t
	if b.err != nil || !isFull(t.set) {
		return
	}
	f := &fullState{grads: map[*gpu.Buffer]*gpu.Buffer{}}
	if f.embedb, b.err = ops.NewEmbedBackward(t.g.d); b.err != nil {
		return
	}
	n := t.opt.B * t.opt.T
	f.ids, f.starts, f.order = b.buf("embed.ids", n), b.buf("embed.starts", n+1), b.buf("embed.order", n)
	t.fullst = f
}

// wgrad is the gradient view of a trainable weight or norm buffer; nil
// for frozen ones (every weight outside full-parameter training).
func (b *trainBuilder) wgrad(w *gpu.Buffer) *gpu.Buffer {
	t := b.t
	if t.fullst == nil || w == nil || b.err != nil {
		return nil
	}
	if g, ok := t.fullst.grads[w]; ok {
		return g
	}
	off, ok := w.Within(t.params)
	if !ok {
		return nil
	}
	g, err := t.grads.View("d"+w.Label, off, w.Size)
	if err != nil {
		b.err = err
		return nil
	}
	t.fullst.grads[w] = g
	return g
}

// weightGrad records dW += dy^T x for a trainable weight (rows n).
func (b *trainBuilder) weightGrad(w *weight, dy, x *gpu.Buffer) {
	if dw := b.wgrad(w.f32); dw != nil {
		b.add(b.t.k.gemm.Call(dw, dy, x, w.N, w.K, b.t.n, true, false, 1, 1))
	}
}

// normWeightGrad records the RMSNorm weight's gradient, accumulating.
func (b *trainBuilder) normWeightGrad(dout, inp, w, rstd *gpu.Buffer) {
	dw := b.wgrad(w)
	if dw == nil {
		return
	}
	t := b.t
	b.addAll(t.k.normb.RMSNorm(nil, dw, t.bw.norm, dout, inp, w, rstd, t.n, t.g.Spec.Hidden, true))
}

// embedWeightGrad records the token embedding's gradient from the first
// residual's gradient dx0 (B*T, C).
func (b *trainBuilder) embedWeightGrad(dx0 *gpu.Buffer) {
	t, f := b.t, b.t.fullst
	if f == nil {
		return
	}
	dE := b.wgrad(t.g.embd.f32)
	if dE == nil {
		b.add(nil, fmt.Errorf("model: the token embedding is not in the full-parameter buffer"))
		return
	}
	b.add(f.embedb.Call(dE, dx0, f.ids, f.starts, f.order, t.opt.B*t.opt.T, t.g.Spec.Hidden))
}

// uploadGroups writes the step's rows grouped by token.
func (f *fullState) uploadGroups(tokens []int) error {
	ids, starts, order := ops.EmbedGroups(tokens)
	for _, u := range []struct {
		b *gpu.Buffer
		v []uint32
	}{{f.ids, ids}, {f.starts, starts}, {f.order, order}} {
		if err := u.b.UploadU32(0, u.v); err != nil {
			return err
		}
	}
	return nil
}
