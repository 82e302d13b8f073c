package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
)

// backActs are the backward pass's gradient buffers, shared by all layers.
type backActs struct {
	dx             [2]*gpu.Buffer // (n, C) gradient of the residual stream, ping-pong
	cur            int
	dmid, dln, dz  *gpu.Buffer // (n, C)
	dq, dqr, dq0   *gpu.Buffer // (n, Q)
	dk, dkr, dk0   *gpu.Buffer // (n, KV)
	dv, dv0        *gpu.Buffer // (n, KV)
	dK, dV         *gpu.Buffer // (B, S, KV)
	datty          *gpu.Buffer // (n, Q)
	dacts, dact    *gpu.Buffer // (n, FFN)
	dgate, dup     *gpu.Buffer // (n, FFN)
	dlogits        *gpu.Buffer // (n, chunk)
	dh             *gpu.Buffer // (n, r) LoRA
	dxd            *gpu.Buffer // (n, in) LoRA input gradient before dropout's backward
	dah, daa       *gpu.Buffer // (n, r) adapters
	gather         *gpu.Buffer // (B, width) slices summed over the batch
	colsum         *gpu.Buffer // ColSum scratch
	norm           *gpu.Buffer // norm-backward scratch
	clip, clipPart *gpu.Buffer // the clip factor and norm; their partial sums
}

func (b *trainBuilder) backActs() {
	t, s := b.t, b.t.g.Spec
	n, C, Q, KV, F := t.n, s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	chunk := 0
	for _, w := range t.g.head {
		chunk = max(chunk, w.N)
	}
	bw := &backActs{dx: [2]*gpu.Buffer{b.buf("dx0", n*C), b.buf("dx1", n*C)},
		dmid: b.buf("dmid", n*C), dln: b.buf("dln", n*C), dz: b.buf("dz", n*C),
		dq: b.buf("dq", n*Q), dqr: b.buf("dq.rope", n*Q), dq0: b.buf("dq0", n*Q),
		dk: b.buf("dk", n*KV), dkr: b.buf("dk.rope", n*KV), dk0: b.buf("dk0", n*KV),
		dv: b.buf("dv", n*KV), dv0: b.buf("dv0", n*KV),
		dK: b.buf("dK", t.opt.B*t.S*KV), dV: b.buf("dV", t.opt.B*t.S*KV), datty: b.buf("datty", n*Q),
		dacts: b.buf("dacts", n*F), dact: b.buf("dact", n*F), dgate: b.buf("dgate", n*F), dup: b.buf("dup", n*F),
		dlogits: b.buf("dlogits", n*chunk)}
	r := 1
	if c, ok := t.set.Config(peft.LoRA); ok {
		r = max(r, c.Rank)
	}
	if c, ok := t.set.Config(peft.Adapter); ok {
		r = max(r, c.Bottleneck)
	}
	bw.dh, bw.dah, bw.daa = b.buf("dlora.h", n*r), b.buf("dadapter.h", n*r), b.buf("dadapter.a", n*r)
	if c, ok := t.set.Config(peft.LoRA); ok && c.Dropout > 0 {
		bw.dxd = b.buf("dlora.dropped", n*max(C, Q, F))
	}
	width := max(t.Pp*KV, t.P*C, 1)
	bw.gather = b.buf("dgather", t.opt.B*width)
	bw.colsum = b.buf("colsum.scratch", t.k.colSumScratch(n, max(C, F, Q, width)))
	bw.norm = b.buf("normbwd.scratch", t.k.normScratch(n, C))
	bw.clip, bw.clipPart = b.buf("clip", 2), b.buf("clip.partial", t.k.clipScratch(t.set.Size))
	t.bw = bw
}

// headBackward records, chunk by chunk, the recomputed logits, their
// gradient (softmax minus one-hot, times the row's loss weight) and its
// product with the frozen LM head, then the final norm's backward.
func (b *trainBuilder) headBackward() {
	t, g, bw := b.t, b.t.g, b.t.bw
	h := t.head
	for c, w := range g.head {
		b.add(g.k.linear(h.logits, h.ln, w, t.n))
		b.add(t.k.vocabBackward(bw.dlogits, h.logits, t.targets, h.partials, t.dloss, t.n, w.N, g.headRow[c], len(g.head)))
		b.add(t.k.linearBackward(bw.dln, bw.dlogits, w, t.n, c > 0))
		b.weightGrad(w, bw.dlogits, h.ln)
	}
	bw.cur = 0
	b.normBackward(bw.dx[0], bw.dln, t.xs[len(t.xs)-1], g.outNorm, h.mean, h.rstd, false)
}

// normBackward records dinp (+)= norm'(dout), and the norm weight's
// gradient when it is trained.
func (b *trainBuilder) normBackward(dinp, dout, inp, w, mean, rstd *gpu.Buffer, acc bool) {
	t := b.t
	b.addAll(t.k.normBackward(dinp, dout, inp, w, mean, rstd, t.bw.norm, t.n, t.g.Spec.Hidden, acc))
	b.normWeightGrad(dout, inp, w, rstd)
}

// linearBackward records dx (+)= dy W (frozen W) and the LoRA gradients
// of module m: dB += s dy^T h, dh = s dy B, dA += dh^T x, dx += dh A.
func (b *trainBuilder) linearBackward(dx, dy, x *gpu.Buffer, w *weight, l int, m string, a *layerActs, acc bool) {
	t := b.t
	b.add(t.k.linearBackward(dx, dy, w, t.n, acc))
	b.weightGrad(w, dy, x)
	c, ok := t.set.Config(peft.LoRA)
	h := a.lora[m]
	if !ok || h == nil {
		return
	}
	s, r, dh := float32(c.Scale()), c.Rank, t.bw.dh
	A, B := t.pview[loraName(l, m, "a")], t.pview[loraName(l, m, "b")]
	dA, dB := t.gview[loraName(l, m, "a")], t.gview[loraName(l, m, "b")]
	b.add(t.k.gemm.Call(dB, dy, h, w.N, r, t.n, true, false, s, 1))
	b.add(t.k.gemm.Call(dh, dy, B, t.n, r, w.N, false, false, s, 0))
	if xd := a.dropped[m]; xd != nil {
		b.add(t.k.gemm.Call(dA, dh, xd, r, w.K, t.n, true, false, 1, 1))
		b.add(t.k.gemm.Call(t.bw.dxd, dh, A, t.n, w.K, r, false, false, 1, 0))
		b.dropout(dx, nil, t.bw.dxd, t.n*w.K, c.Dropout, l, m, true)
		return
	}
	b.add(t.k.gemm.Call(dA, dh, x, r, w.K, t.n, true, false, 1, 1))
	b.add(t.k.gemm.Call(dx, dh, A, t.n, w.K, r, false, false, 1, 1))
}

// ia3Backward records, for out = in * vector: dvector += colsum(dout *
// in) and din = dout * vector. Without the vector din is dout.
func (b *trainBuilder) ia3Backward(din, dout, in, out *gpu.Buffer, l int, which string, cols int) *gpu.Buffer {
	if out == in {
		return dout
	}
	name := fmt.Sprintf("blk.%d.ia3.%s", l, which)
	t := b.t
	b.addAll(t.k.scaleColsBackward(din, t.gview[name], dout, in, t.pview[name], t.bw.colsum, t.n, cols))
	return din
}

// adapterBackward records the gradients of an adapter at place and
// returns the gradient of its input (dz when there is no adapter).
func (b *trainBuilder) adapterBackward(dz, in *gpu.Buffer, l int, place string, a *layerActs) *gpu.Buffer {
	t, bw := b.t, b.t.bw
	aa := a.adapter[place]
	if aa == nil {
		return dz
	}
	c, _ := t.set.Config(peft.Adapter)
	C, r, n := t.g.Spec.Hidden, c.Bottleneck, t.n
	name := func(x string) string { return fmt.Sprintf("blk.%d.adapter_%s.%s", l, place, x) }
	p, g := func(x string) *gpu.Buffer { return t.pview[name(x)] }, func(x string) *gpu.Buffer { return t.gview[name(x)] }
	b.add(t.k.gemm.Call(g("up"), dz, aa.a, C, r, n, true, false, 1, 1))
	b.addAll(t.k.colSum(g("up_bias"), bw.colsum, dz, n, C, true))
	b.add(t.k.gemm.Call(bw.daa, dz, p("up"), n, r, C, false, false, 1, 0))
	b.add(t.k.activationBackward(c.AdapterAct, bw.dah, aa.h, bw.daa, n*r))
	b.add(t.k.gemm.Call(g("down"), bw.dah, in, r, C, n, true, false, 1, 1))
	b.addAll(t.k.colSum(g("down_bias"), bw.colsum, bw.dah, n, r, true))
	b.copy(dz, 0, bw.dz, 0, 4*uint64(n*C))
	b.add(t.k.gemm.Call(bw.dz, bw.dah, p("down"), n, C, r, false, false, 1, 1))
	return bw.dz
}

// layerBackward records layer l's backward pass from the gradient of its
// output (bw.dx[bw.cur]) to the gradient of its input (the other dx).
func (b *trainBuilder) layerBackward(l int) {
	t, g, s, bw := b.t, b.t.g, b.t.g.Spec, b.t.bw
	w, a := &g.layers[l], t.acts(l)
	n, C, Q, KV, F := t.n, s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	dout := bw.dx[bw.cur]

	dd := b.adapterBackward(dout, a.d0, l, "ffn", a)
	b.linearBackward(bw.dacts, dd, a.acts, w.down, l, "down", a, false)
	dact := b.ia3Backward(bw.dact, bw.dacts, a.act, a.acts, l, "ffn", F)
	if w.gate != nil {
		b.add(t.k.swigluBackward(bw.dgate, bw.dup, a.gate, a.up, dact, n*F))
	} else {
		b.add(t.k.geluBackward(bw.dup, a.up, dact, n*F))
	}
	b.linearBackward(bw.dln, bw.dup, a.ln2, w.up, l, "up", a, false)
	if w.gate != nil {
		b.linearBackward(bw.dln, bw.dgate, a.ln2, w.gate, l, "gate", a, true)
	}
	b.copy(dout, 0, bw.dmid, 0, 4*uint64(n*C))
	b.normBackward(bw.dmid, bw.dln, a.mid, w.ffnNorm, a.mean2, a.rstd2, true)

	do := b.adapterBackward(bw.dmid, a.o0, l, "attn", a)
	b.linearBackward(bw.datty, do, a.atty, w.o, l, "o", a, false)
	b.addAll(t.k.attnBackward(bw.dqr, bw.dK, bw.dV, bw.datty, a.qr, a.K, a.V, a.atty, a.lse, t.attnShape()))
	b.splitKV(bw.dkr, bw.dK, l, "k")
	b.splitKV(bw.dv, bw.dV, l, "v")
	dq, dk := bw.dqr, bw.dkr
	if s.Rope != RopeNone {
		pairs, theta := ropePairs(s), float32(s.RopeTheta)
		b.add(t.k.ropeBackward(bw.dq, bw.dqr, t.pos, t.opt.B, t.Tp, s.Heads, s.HeadDim, theta, pairs))
		b.add(t.k.ropeBackward(bw.dk, bw.dkr, t.pos, t.opt.B, t.Tp, s.KVHeads, s.HeadDim, theta, pairs))
		dq, dk = bw.dq, bw.dk
	}
	dq = b.ia3Backward(bw.dq0, dq, a.q0, a.q, l, "q", Q)
	dk = b.ia3Backward(bw.dk0, dk, a.k0, a.k, l, "k", KV)
	dv := b.ia3Backward(bw.dv0, bw.dv, a.v0, a.v, l, "v", KV)
	b.linearBackward(bw.dln, dq, a.ln1, w.q, l, "q", a, false)
	b.linearBackward(bw.dln, dk, a.ln1, w.k, l, "k", a, true)
	b.linearBackward(bw.dln, dv, a.ln1, w.v, l, "v", a, true)
	next := bw.dx[1-bw.cur]
	b.copy(bw.dmid, 0, next, 0, 4*uint64(n*C))
	b.normBackward(next, bw.dln, t.xs[l], w.attnNorm, a.mean1, a.rstd1, true)
	bw.cur = 1 - bw.cur
}

// splitKV copies the rows' part of a key or value gradient (B, S, KV)
// into (n, KV) and sums the prefix slots over the batch into the
// prefix's gradient.
func (b *trainBuilder) splitKV(rows, full *gpu.Buffer, l int, which string) {
	t := b.t
	KV := t.g.Spec.KVHeads * t.g.Spec.HeadDim
	row := 4 * uint64(KV)
	for s := 0; s < t.opt.B; s++ {
		b.copy(full, uint64(s*t.S+t.Pp)*row, rows, uint64(s*t.Tp)*row, uint64(t.Tp)*row)
	}
	if t.Pp > 0 {
		// Projected prefixes' gradients are blocks of a scratch buffer,
		// written afresh each micro-batch; plain ones accumulate.
		b.batchSum(t.gview[fmt.Sprintf("blk.%d.prefix.%s", l, which)], full, t.S*KV, t.Pp*KV, t.proj == nil)
	}
}

// batchSum sums, over the B sequences, the first width floats of each
// sequence's stride-long slice of src into dst (acc: added to dst).
func (b *trainBuilder) batchSum(dst, src *gpu.Buffer, stride, width int, acc bool) {
	t := b.t
	for s := 0; s < t.opt.B; s++ {
		b.copy(src, 4*uint64(s*stride), t.bw.gather, 4*uint64(s*width), 4*uint64(width))
	}
	b.addAll(t.k.colSum(dst, t.bw.colsum, t.bw.gather, t.opt.B, width, acc))
}

// embedBackward records the prompt-tuning embeddings' gradient: the
// residual gradient of the virtual rows, summed over the batch.
func (b *trainBuilder) embedBackward() {
	t := b.t
	if t.P == 0 {
		return
	}
	C := t.g.Spec.Hidden
	b.batchSum(t.gview["prompt.embeddings"], t.bw.dx[t.bw.cur], t.Tp*C, t.P*C, true)
}

// optimizer records gradient clipping and the AdamW step.
func (b *trainBuilder) optimizer() {
	t := b.t
	b.addAll(t.k.clip(t.bw.clip, t.bw.clipPart, t.grads, t.set.Size, t.opt.MaxGradNorm))
	c, err := t.k.adamStep(t.params, t.grads, t.m, t.v, t.bw.clip, t.set.Size)
	if err != nil {
		b.add(nil, err)
		return
	}
	t.adam = c
	b.add(c.call(), nil)
}
