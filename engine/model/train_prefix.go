package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
)

// prefixMLP is prefix tuning's reparameterisation (PEFT's
// prefix_projection) in a training program: once per step, before the
// layers,
//
//	pre (P, H)     = E (P, KV) W1^T + b1
//	h   (P, H)     = tanh(pre)
//	y   (P, L*2*KV) = h W2^T + b2
//
// and y is split into one aligned (P, KV) block per layer's keys and
// values, which the layers read as their prefixes. Backward, after the
// layers, runs the same in reverse from the blocks' gradients.
type prefixMLP struct {
	P, H, KV, G int // virtual tokens, encoder width, key width, 2*layers
	stride      int // floats from one block to the next (256-byte aligned)

	tanh  *ops.Tanh
	split *ops.SplitBlocks

	pre, h, y, blocks *gpu.Buffer
	dblocks, dy, dh   *gpu.Buffer
	dpre, scratch     *gpu.Buffer
}

// prefixAlloc makes the MLP's buffers when the set projects its prefixes,
// and points the layers' prefix views (blk.N.prefix.k/v, which the set
// then lacks) into its blocks and their gradients.
func (b *trainBuilder) prefixAlloc() {
	t := b.t
	c, ok := t.set.Config(peft.Prefix)
	if !ok || !c.PrefixProjection || b.err != nil {
		return
	}
	s := t.g.Spec
	m := &prefixMLP{P: c.VirtualTokens, H: c.EncoderHidden, KV: s.KVHeads * s.HeadDim, G: 2 * s.Layers}
	m.stride = (m.P*m.KV + peft.Align - 1) / peft.Align * peft.Align
	if m.tanh, b.err = ops.NewTanh(t.g.d); b.err != nil {
		return
	}
	if m.split, b.err = ops.NewSplitBlocks(t.g.d); b.err != nil {
		return
	}
	N := m.G * m.KV
	m.pre, m.h, m.y = b.buf("prefix.pre", m.P*m.H), b.buf("prefix.h", m.P*m.H), b.buf("prefix.y", m.P*N)
	m.blocks, m.dblocks = b.buf("prefix.blocks", m.G*m.stride), b.buf("prefix.dblocks", m.G*m.stride)
	m.dy, m.dh, m.dpre = b.buf("prefix.dy", m.P*N), b.buf("prefix.dh", m.P*m.H), b.buf("prefix.dpre", m.P*m.H)
	m.scratch = b.buf("prefix.colsum", t.k.colSumScratch(m.P, max(N, m.H)))
	for g := 0; g < m.G && b.err == nil; g++ {
		name := fmt.Sprintf("blk.%d.prefix.%s", g/2, []string{"k", "v"}[g%2])
		off, size := 4*uint64(g*m.stride), 4*uint64(m.P*m.KV)
		var pv, gv *gpu.Buffer
		if pv, b.err = m.blocks.View(name, off, size); b.err == nil {
			gv, b.err = m.dblocks.View("d"+name, off, size)
		}
		t.pview[name], t.gview[name] = pv, gv
	}
	t.proj = m
}

// prefixForward records the MLP and the split into blocks.
func (b *trainBuilder) prefixForward() {
	t, m := b.t, b.t.proj
	if m == nil {
		return
	}
	p := t.pview
	N := m.G * m.KV
	b.add(t.k.gemm.Call(m.pre, p["prefix.embedding"], p["prefix.w1"], m.P, m.H, m.KV, false, true, 1, 0))
	b.add(t.g.k.bias.Call(m.pre, p["prefix.b1"], m.P, m.H))
	b.add(m.tanh.Forward(m.h, m.pre, m.P*m.H))
	b.add(t.k.gemm.Call(m.y, m.h, p["prefix.w2"], m.P, N, m.H, false, true, 1, 0))
	b.add(t.g.k.bias.Call(m.y, p["prefix.b2"], m.P, N))
	b.add(m.split.Forward(m.blocks, m.y, m.P, m.G, m.KV, m.stride))
}

// prefixBackward records the MLP's backward pass from the blocks'
// gradients (written, not accumulated, by the layers' backward passes)
// into the gradients of E, W1, b1, W2 and b2 (accumulated, like every
// parameter gradient, over micro-batches).
func (b *trainBuilder) prefixBackward() {
	t, m := b.t, b.t.proj
	if m == nil {
		return
	}
	p, g := t.pview, t.gview
	N := m.G * m.KV
	b.add(m.split.Backward(m.dy, m.dblocks, m.P, m.G, m.KV, m.stride, false))
	b.add(t.k.gemm.Call(g["prefix.w2"], m.dy, m.h, N, m.H, m.P, true, false, 1, 1))
	b.addAll(t.k.colSum(g["prefix.b2"], m.scratch, m.dy, m.P, N, true))
	b.add(t.k.gemm.Call(m.dh, m.dy, p["prefix.w2"], m.P, m.H, N, false, false, 1, 0))
	b.add(m.tanh.Backward(m.dpre, m.pre, m.dh, m.P*m.H, false))
	b.add(t.k.gemm.Call(g["prefix.w1"], m.dpre, p["prefix.embedding"], m.H, m.KV, m.P, true, false, 1, 1))
	b.addAll(t.k.colSum(g["prefix.b1"], m.scratch, m.dpre, m.P, m.H, true))
	b.add(t.k.gemm.Call(g["prefix.embedding"], m.dpre, p["prefix.w1"], m.P, m.KV, m.H, false, false, 1, 1))
}
