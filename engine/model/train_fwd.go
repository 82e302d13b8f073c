package model

import (
	"fmt"
	"slices"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
	"webpeft/engine/ref"
)

// layerActs are one layer's activations, kept for its backward pass.
// Buffers a method does not need are nil; q, k, v alias their
// projections without IA3, qr, kr alias q, k without RoPE.
type layerActs struct {
	ln1, mean1, rstd1 *gpu.Buffer // (n, C), (n), (n)
	q0, k0, v0        *gpu.Buffer // (n, Q|KV) projections (+ bias, + LoRA)
	q, k, v           *gpu.Buffer // after IA3
	qr, kr            *gpu.Buffer // after RoPE
	K, V              *gpu.Buffer // (B, S, KV): prefix slots, then the rows' keys and values
	atty, lse         *gpu.Buffer // (n, Q), (B, NH, Tp)
	o0, o             *gpu.Buffer // (n, C) attention output projection, after an adapter
	mid               *gpu.Buffer // (n, C) residual after attention
	ln2, mean2, rstd2 *gpu.Buffer
	gate, up, act     *gpu.Buffer            // (n, FFN)
	acts              *gpu.Buffer            // act after IA3
	d0, d             *gpu.Buffer            // (n, C) FFN down projection, after an adapter
	lora              map[string]*gpu.Buffer // module -> (n, r) h = dropout(x) A^T
	dropped           map[string]*gpu.Buffer // module -> (n, in) dropout(x), with LoRA dropout
	adapter           map[string]*adapterActs
}

// adapterActs: h = down(in) + down_bias (n, r), a = act(h).
type adapterActs struct{ h, a *gpu.Buffer }

// headActs are the final norm's and the loss's buffers.
type headActs struct {
	ln, mean, rstd *gpu.Buffer // (n, C), (n), (n)
	logits         *gpu.Buffer // (n, chunk) one vocabulary chunk at a time
	partials       *gpu.Buffer
	argmax         *gpu.Buffer
	emb            *gpu.Buffer // (B*T, C) gathered token embeddings
	posEmb         *gpu.Buffer // (n, C) gpt2 learned positions
}

// trainBuilder records a Trainer's steps, remembering the first error.
type trainBuilder struct {
	t     *Trainer
	err   error
	phase int // 0 forward, 1 backward, 2 optimizer
}

const (
	phaseForward = iota
	phaseBackward
	phaseOptimizer
)

func (b *trainBuilder) buf(label string, floats int) *gpu.Buffer {
	if b.err != nil {
		return nil
	}
	buf, err := b.t.g.d.NewBuffer(label, 4*uint64(max(floats, 1)))
	if err != nil {
		b.err = err
		return nil
	}
	b.t.bufs = append(b.t.bufs, buf)
	return buf
}

func (b *trainBuilder) add(c *gpu.Call, err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
	if b.err == nil {
		b.t.steps = append(b.t.steps, step{call: c, forward: b.phase == phaseForward, optimizer: b.phase == phaseOptimizer})
	}
}

func (b *trainBuilder) addAll(cs []*gpu.Call, err error) {
	if err != nil {
		b.add(nil, err)
		return
	}
	for _, c := range cs {
		b.add(c, nil)
	}
}

func (b *trainBuilder) copy(src *gpu.Buffer, srcOff uint64, dst *gpu.Buffer, dstOff, size uint64) {
	if b.err != nil || size == 0 {
		return
	}
	b.t.steps = append(b.t.steps, step{forward: b.phase == phaseForward, copy: func(r *gpu.Recorder, _ int) {
		r.Copy(src, srcOff, dst, dstOff, size)
	}})
}

// alloc makes the flat parameter buffers, the step inputs and the
// activations.
func (b *trainBuilder) alloc() {
	t, s := b.t, b.t.g.Spec
	size := t.set.Size
	t.params, t.grads = t.g.FullParams(), b.buf("peft.grads", size)
	if !isFull(t.set) {
		t.params = b.buf("peft.params", size)
	}
	t.m, t.v = b.buf("adamw.m", size), b.buf("adamw.v", size)
	t.zeros = b.buf("zeros", size)
	t.tokens, t.pos = b.buf("tokens", t.opt.B*t.opt.T), b.buf("positions", t.n)
	t.targets, t.dloss, t.losses = b.buf("targets", t.n), b.buf("dloss", t.n), b.buf("losses", t.n)
	if b.err != nil {
		return
	}
	if t.lossBack, b.err = t.g.d.NewReadback("losses", 4*uint64(t.n)); b.err != nil {
		return
	}
	t.pview, t.gview = map[string]*gpu.Buffer{}, map[string]*gpu.Buffer{}
	for _, x := range t.set.Tensors {
		pv, err := t.params.View(x.Name, 4*uint64(x.Off), 4*uint64(x.Len))
		if err != nil {
			b.err = err
			return
		}
		gv, err := t.grads.View("d"+x.Name, 4*uint64(x.Off), 4*uint64(x.Len))
		if err != nil {
			b.err = err
			return
		}
		t.pview[x.Name], t.gview[x.Name] = pv, gv
	}
	b.prefixAlloc()
	b.fullAlloc()
	t.xs = make([]*gpu.Buffer, s.Layers+1)
	for i := range t.xs {
		t.xs[i] = b.buf(fmt.Sprintf("x.%d", i), t.n*s.Hidden)
	}
	sets := s.Layers
	if t.recompute {
		sets = 1
	}
	for i := 0; i < sets; i++ {
		t.layers = append(t.layers, b.layerActs(i))
	}
	b.headActs()
	b.backActs()
}

func (b *trainBuilder) layerActs(i int) *layerActs {
	t, s := b.t, b.t.g.Spec
	n, C, Q, KV, F := t.n, s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	name := func(x string) string { return fmt.Sprintf("act.%d.%s", i, x) }
	a := &layerActs{ln1: b.buf(name("ln1"), n*C), mean1: b.buf(name("mean1"), n), rstd1: b.buf(name("rstd1"), n),
		q0: b.buf(name("q"), n*Q), k0: b.buf(name("k"), n*KV), v0: b.buf(name("v"), n*KV),
		K: b.buf(name("K"), t.opt.B*t.S*KV), V: b.buf(name("V"), t.opt.B*t.S*KV),
		atty: b.buf(name("atty"), n*Q), lse: b.buf(name("lse"), t.opt.B*s.Heads*t.Tp),
		o0: b.buf(name("o"), n*C), mid: b.buf(name("mid"), n*C),
		ln2: b.buf(name("ln2"), n*C), mean2: b.buf(name("mean2"), n), rstd2: b.buf(name("rstd2"), n),
		up: b.buf(name("up"), n*F), act: b.buf(name("act"), n*F), d0: b.buf(name("d"), n*C),
		lora: map[string]*gpu.Buffer{}, dropped: map[string]*gpu.Buffer{}, adapter: map[string]*adapterActs{}}
	if s.Arch != GPT2 {
		a.gate = b.buf(name("gate"), n*F)
	}
	a.q, a.k, a.v, a.acts = a.q0, a.k0, a.v0, a.act
	if _, ok := t.set.Config(peft.IA3); ok {
		a.k, a.v, a.acts = b.buf(name("k.ia3"), n*KV), b.buf(name("v.ia3"), n*KV), b.buf(name("act.ia3"), n*F)
		if s.Arch == GPT2 {
			a.q = b.buf(name("q.ia3"), n*Q)
		}
	}
	a.qr, a.kr = a.q, a.k
	if s.Rope != RopeNone {
		a.qr, a.kr = b.buf(name("q.rope"), n*Q), b.buf(name("k.rope"), n*KV)
	}
	a.o, a.d = a.o0, a.d0
	if c, ok := t.set.Config(peft.LoRA); ok {
		d := PEFTDims(s)
		for _, m := range c.Targets {
			a.lora[m] = b.buf(name("lora."+m), n*c.Rank)
			if c.Dropout > 0 {
				in, _ := d.InOut(m)
				a.dropped[m] = b.buf(name("lora."+m+".dropped"), n*in)
			}
		}
	}
	if c, ok := t.set.Config(peft.Adapter); ok {
		for _, p := range adapterPlaces(c) {
			a.adapter[p] = &adapterActs{h: b.buf(name("adapter."+p+".h"), n*c.Bottleneck), a: b.buf(name("adapter."+p+".a"), n*c.Bottleneck)}
		}
		a.d = b.buf(name("d.adapter"), n*C)
		if c.AdapterType == "houlsby" {
			a.o = b.buf(name("o.adapter"), n*C)
		}
	}
	return a
}

func adapterPlaces(c peft.Config) []string {
	if c.AdapterType == "houlsby" {
		return []string{"attn", "ffn"}
	}
	return []string{"ffn"}
}

func (b *trainBuilder) headActs() {
	t, s := b.t, b.t.g.Spec
	chunk := 0
	for _, w := range t.g.head {
		chunk = max(chunk, w.N)
	}
	t.head = &headActs{ln: b.buf("head.ln", t.n*s.Hidden), mean: b.buf("head.mean", t.n), rstd: b.buf("head.rstd", t.n),
		logits: b.buf("head.logits", t.n*chunk), partials: b.buf("head.partials", ops.PartialFloats(t.n, len(t.g.head))),
		argmax: b.buf("head.argmax", t.n), emb: b.buf("embed.tokens", t.opt.B*t.opt.T*s.Hidden)}
	if t.g.pos != nil {
		t.head.posEmb = b.buf("embed.positions", t.n*s.Hidden)
	}
}

// acts returns the activation set layer l uses.
func (t *Trainer) acts(l int) *layerActs {
	if t.recompute {
		return t.layers[0]
	}
	return t.layers[l]
}

// record lays out the whole step: forward and loss, backward, optimizer.
func (b *trainBuilder) record() {
	if b.err != nil {
		return
	}
	t := b.t
	b.phase = phaseForward
	b.embed()
	b.prefixForward()
	for l := range t.g.layers {
		b.layerForward(l)
	}
	b.headForward()
	b.phase = phaseBackward
	b.headBackward()
	for l := len(t.g.layers) - 1; l >= 0; l-- {
		if t.recompute {
			b.layerForward(l)
		}
		b.layerBackward(l)
	}
	b.embedBackward()
	b.embedWeightGrad(t.bw.dx[t.bw.cur])
	b.prefixBackward()
	b.phase = phaseOptimizer
	b.optimizer()
}

// embed writes the first residual: per sequence the prompt-tuning rows,
// then the token embeddings (plus learned positions for gpt2).
func (b *trainBuilder) embed() {
	t, g := b.t, b.t.g
	C := g.Spec.Hidden
	T, row := t.opt.T, 4*uint64(C)
	if t.split = newSplitGather(g, t.opt.B*T, b.buf); t.split == nil {
		b.add(g.k.gather(t.head.emb, g.embd, t.tokens, t.opt.B*T))
	} else {
		b.addAll(t.split.calls())
		split, emb := t.split, t.head.emb
		b.t.steps = append(b.t.steps, step{forward: true, copy: func(r *gpu.Recorder, _ int) { split.copies(r, emb) }})
	}
	x := t.xs[0]
	if g.pos != nil {
		x = b.buf("embed.sum", t.n*C)
	}
	for s := 0; s < t.opt.B; s++ {
		if t.P > 0 {
			b.copy(t.pview["prompt.embeddings"], 0, x, uint64(s*t.Tp)*row, uint64(t.P)*row)
		}
		b.copy(t.head.emb, uint64(s*T)*row, x, uint64(s*t.Tp+t.P)*row, uint64(T)*row)
	}
	if g.pos != nil {
		b.add(g.k.gather(t.head.posEmb, g.pos, t.pos, t.n))
		b.add(g.k.ew.Add(t.xs[0], x, t.head.posEmb, t.n*C))
	}
}

// norm records out = norm(inp) with the model's normalization.
func (b *trainBuilder) norm(out, mean, rstd, inp, w, bias *gpu.Buffer) {
	t, s := b.t, b.t.g.Spec
	eps := float32(s.NormEps)
	if s.Norm == LayerNorm {
		b.add(t.g.k.norm.LayerNorm(out, mean, rstd, inp, w, bias, t.n, s.Hidden, eps))
	} else {
		b.add(t.g.k.norm.RMSNorm(out, rstd, inp, w, t.n, s.Hidden, eps))
	}
}

// linear records y = x W^T + bias + LoRA(x) for module m of layer l.
func (b *trainBuilder) linear(y, x *gpu.Buffer, w *weight, bias *gpu.Buffer, l int, m string, a *layerActs) {
	t := b.t
	b.add(t.g.k.linear(y, x, w, t.n))
	if bias != nil {
		b.add(t.g.k.bias.Call(y, bias, t.n, w.N))
	}
	c, ok := t.set.Config(peft.LoRA)
	h := a.lora[m]
	if !ok || h == nil {
		return
	}
	A, B := t.pview[loraName(l, m, "a")], t.pview[loraName(l, m, "b")]
	if xd := a.dropped[m]; xd != nil {
		b.dropout(xd, x, nil, t.n*w.K, c.Dropout, l, m, false)
		x = xd
	}
	b.add(t.k.gemm.Call(h, x, A, t.n, c.Rank, w.K, false, true, 1, 0))
	b.add(t.k.gemm.Call(y, h, B, t.n, w.N, c.Rank, false, true, float32(c.Scale()), 1))
}

// dropout records out = dropout(in) (forward) or out += dropout'(dout)
// (backward, in = nil) for the LoRA of module m of layer l. Its mask is
// drawn from a seed the trainer sets before every submit (dropSite), the
// same for a step's forward, recomputed forward and backward.
func (b *trainBuilder) dropout(out, in, dout *gpu.Buffer, n int, p float64, l int, m string, backward bool) {
	t := b.t
	site := uint32(l*len(peft.Modules) + slices.Index(peft.Modules, m))
	var c *gpu.Call
	var err error
	if backward {
		c, err = t.k.drop.Backward(out, dout, n, p, site, true)
	} else {
		c, err = t.k.drop.Forward(out, in, n, p, site)
	}
	if err == nil {
		t.drops = append(t.drops, dropSite{call: c, n: n, p: p, site: site, acc: backward})
	}
	b.add(c, err)
}

func loraName(l int, m, part string) string { return fmt.Sprintf("blk.%d.lora_%s.%s", l, m, part) }

// ia3 records out = in * vector (IA3) when the set has the vector.
func (b *trainBuilder) ia3(out, in *gpu.Buffer, l int, which string, cols int) {
	if out == in {
		return
	}
	b.add(b.t.k.scaleCols(out, in, b.t.pview[fmt.Sprintf("blk.%d.ia3.%s", l, which)], b.t.n, cols))
}

// adapter records out = in + up(act(down(in) + down_bias)) + up_bias.
func (b *trainBuilder) adapter(out, in *gpu.Buffer, l int, place string, a *layerActs) {
	t := b.t
	aa := a.adapter[place]
	if aa == nil {
		return
	}
	c, _ := t.set.Config(peft.Adapter)
	C, r := t.g.Spec.Hidden, c.Bottleneck
	p := func(x string) *gpu.Buffer { return t.pview[fmt.Sprintf("blk.%d.adapter_%s.%s", l, place, x)] }
	b.add(t.k.gemm.Call(aa.h, in, p("down"), t.n, r, C, false, true, 1, 0))
	b.add(t.g.k.bias.Call(aa.h, p("down_bias"), t.n, r))
	b.add(t.k.activation(c.AdapterAct, aa.a, aa.h, t.n*r))
	b.copy(in, 0, out, 0, 4*uint64(t.n*C))
	b.add(t.k.gemm.Call(out, aa.a, p("up"), t.n, C, r, false, true, 1, 1))
	b.add(t.g.k.bias.Call(out, p("up_bias"), t.n, C))
}

func (b *trainBuilder) layerForward(l int) {
	t, g, s := b.t, b.t.g, b.t.g.Spec
	w, a, x := &g.layers[l], t.acts(l), t.xs[l]
	Q, KV := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	b.norm(a.ln1, a.mean1, a.rstd1, x, w.attnNorm, w.attnNormBias)
	b.linear(a.q0, a.ln1, w.q, w.qb, l, "q", a)
	b.linear(a.k0, a.ln1, w.k, w.kb, l, "k", a)
	b.linear(a.v0, a.ln1, w.v, w.vb, l, "v", a)
	b.ia3(a.q, a.q0, l, "q", Q)
	b.ia3(a.k, a.k0, l, "k", KV)
	b.ia3(a.v, a.v0, l, "v", KV)
	if s.Rope != RopeNone {
		pairs, theta := ropePairs(s), float32(s.RopeTheta)
		b.add(g.k.rope.Forward(a.qr, a.q, t.pos, t.opt.B, t.Tp, s.Heads, s.HeadDim, theta, pairs))
		b.add(g.k.rope.Forward(a.kr, a.k, t.pos, t.opt.B, t.Tp, s.KVHeads, s.HeadDim, theta, pairs))
	}
	b.fillKV(a.K, a.kr, l, "k")
	b.fillKV(a.V, a.v, l, "v")
	b.addAll(t.k.attnForward(a.atty, a.lse, a.qr, a.K, a.V, t.attnShape()))
	b.linear(a.o0, a.atty, w.o, w.ob, l, "o", a)
	b.adapter(a.o, a.o0, l, "attn", a)
	b.add(g.k.ew.Add(a.mid, x, a.o, t.n*s.Hidden))

	b.norm(a.ln2, a.mean2, a.rstd2, a.mid, w.ffnNorm, w.ffnNormBias)
	b.linear(a.up, a.ln2, w.up, w.upb, l, "up", a)
	if w.gate != nil {
		b.linear(a.gate, a.ln2, w.gate, nil, l, "gate", a)
		b.add(g.k.act.SwiGLU(a.act, a.gate, a.up, t.n*s.FFN))
	} else {
		b.add(g.k.act.Gelu(a.act, a.up, t.n*s.FFN))
	}
	b.ia3(a.acts, a.act, l, "ffn", s.FFN)
	b.linear(a.d0, a.acts, w.down, w.downb, l, "down", a)
	b.adapter(a.d, a.d0, l, "ffn", a)
	b.add(g.k.ew.Add(t.xs[l+1], a.mid, a.d, t.n*s.Hidden))
}

func ropePairs(s *Spec) ref.RopePairs {
	if s.Rope == RopeHalf {
		return ref.RopeHalf
	}
	return ref.RopeInterleaved
}

func (t *Trainer) attnShape() ops.AttnShape {
	s := t.g.Spec
	return ops.AttnShape{B: t.opt.B, T: t.Tp, S: t.S, NH: s.Heads, NKV: s.KVHeads, HS: s.HeadDim, Pos0: t.Pp}
}

// fillKV writes a layer's keys or values: per sequence the prefix slots,
// then the sequence's rows.
func (b *trainBuilder) fillKV(dst, rows *gpu.Buffer, l int, which string) {
	t := b.t
	KV := t.g.Spec.KVHeads * t.g.Spec.HeadDim
	row := 4 * uint64(KV)
	for s := 0; s < t.opt.B; s++ {
		if t.Pp > 0 {
			b.copy(t.pview[fmt.Sprintf("blk.%d.prefix.%s", l, which)], 0, dst, uint64(s*t.S)*row, uint64(t.Pp)*row)
		}
		b.copy(rows, uint64(s*t.Tp)*row, dst, uint64(s*t.S+t.Pp)*row, uint64(t.Tp)*row)
	}
}

// headForward records the final norm and, chunk by chunk of the
// vocabulary, the logits and the loss partials.
func (b *trainBuilder) headForward() {
	t, g := b.t, b.t.g
	h := t.head
	b.norm(h.ln, h.mean, h.rstd, t.xs[len(t.xs)-1], g.outNorm, g.outBias)
	for c, w := range g.head {
		b.add(g.k.linear(h.logits, h.ln, w, t.n))
		b.add(g.k.vocab.Partial(h.partials, h.logits, t.targets, t.n, w.N, g.headRow[c], c, len(g.head)))
	}
	b.add(g.k.vocab.Final(t.losses, h.argmax, h.partials, t.n, len(g.head)))
}
