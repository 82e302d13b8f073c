package model

import (
	"fmt"

	"webpeft/engine/peft"
	"webpeft/engine/ref"
)

// The CPU reference of training with PEFT methods: the base model of a
// Reference with the methods of a peft.Set applied, forward and backward,
// in float64, for the GPU training program to be tested against on tiny
// models. It follows Hugging Face PEFT; dropout is not applied, so it is
// deterministic.
//
// Every sequence of the batch is laid out, per layer, as
//
//	[P prefix slots (keys and values only) | VT virtual tokens | T real tokens]
//
// P = the prefix tuning's virtual tokens, VT = the prompt tuning's (either
// may be 0). The S = VT+T rows of a sequence go through the layers; row s
// sits at position P+s (RoPE angle; gpt2's learned position row). Only the
// T real rows make logits and losses.
//
// Shapes: B sequences, T real tokens, S = VT+T rows per sequence, N = B*S,
// C hidden, NH heads, NKV KV heads, HS head size, Q = NH*HS, KV = NKV*HS,
// FFN feed-forward width, V vocab, r a LoRA rank or adapter bottleneck.

// PEFTBatch is B sequences of T tokens with their targets (-1: no loss).
type PEFTBatch struct {
	B, T            int
	Tokens, Targets []int // (B,T) each, sequence-major
}

// PEFTDims returns the peft.Dims of a spec.
func PEFTDims(s *Spec) peft.Dims {
	return peft.Dims{Vocab: s.Vocab, Hidden: s.Hidden, Layers: s.Layers,
		Q: s.Heads * s.HeadDim, KV: s.KVHeads * s.HeadDim, FFN: s.FFN,
		Gated: s.Arch != GPT2, FusedQKV: s.Arch == GPT2}
}

// PEFTLoss runs the batch through the base model with the methods of set
// applied (params: the flat buffer of set's tensors, set.Size floats) and
// returns the mean cross-entropy over targets that are not -1, and (when
// grads is not nil, len set.Size) ADDS d loss / d params into grads.
// Dropout is not applied (the reference is deterministic). A batch
// without any target has loss 0 and adds no gradient. A nil set is the
// base model alone (params and grads then empty).
func (r *Reference) PEFTLoss(set *peft.Set, params []float64, b PEFTBatch, grads []float64) (float64, error) {
	if err := checkTargets(b, r.Spec.Vocab); err != nil {
		return 0, err
	}
	p, err := r.newPEFTRun(set, params, grads, b)
	if err != nil {
		return 0, err
	}
	loss := p.crossEntropy(p.forward(b.Tokens), b.Targets)
	p.backward()
	return loss, nil
}

// PEFTLogits returns the logits (B, T, V) of the real tokens with the
// methods applied (nil set: the base model alone; Targets are not read).
func (r *Reference) PEFTLogits(set *peft.Set, params []float64, b PEFTBatch) ([]float64, error) {
	p, err := r.newPEFTRun(set, params, nil, b)
	if err != nil {
		return nil, err
	}
	return p.forward(b.Tokens).v, nil
}

// checkTargets refuses targets that are neither -1 nor a vocabulary id.
func checkTargets(b PEFTBatch, V int) error {
	if len(b.Targets) != b.B*b.T {
		return fmt.Errorf("model: peft reference: %d targets for %d sequences of %d tokens", len(b.Targets), b.B, b.T)
	}
	for i, t := range b.Targets {
		if t < -1 || t >= V {
			return fmt.Errorf("model: peft reference: target %d at %d is neither -1 nor below the vocabulary of %d", t, i, V)
		}
	}
	return nil
}

// node is one float64 tensor of the reference's graph and its gradient;
// g is nil where no gradient is wanted (frozen weights, inference).
type node struct{ v, g []float64 }

// val and grad are a node's value and gradient; nil for a nil node (an
// absent bias), as the ref ops take them.
func val(n *node) []float64 {
	if n == nil {
		return nil
	}
	return n.v
}

func grad(n *node) []float64 {
	if n == nil {
		return nil
	}
	return n.g
}

// frozen widens a base weight to a float64 node without gradient; nil
// stays nil (an absent bias).
func frozen(x []float32) *node {
	if x == nil {
		return nil
	}
	v := make([]float64, len(x))
	for i, f := range x {
		v[i] = float64(f)
	}
	return &node{v: v}
}

// peftLayer is a ReferenceLayer in float64 (see there for the shapes).
type peftLayer struct {
	attnNorm, attnNormBias, q, qBias, k, kBias, v, vBias, attnOut, attnOutBias *node
	ffnNorm, ffnNormBias, gate, up, upBias, down, downBias                     *node
}

func newPEFTLayer(w *ReferenceLayer) peftLayer {
	return peftLayer{attnNorm: frozen(w.AttnNorm), attnNormBias: frozen(w.AttnNormBias),
		q: frozen(w.Q), qBias: frozen(w.QBias), k: frozen(w.K), kBias: frozen(w.KBias),
		v: frozen(w.V), vBias: frozen(w.VBias), attnOut: frozen(w.AttnOut), attnOutBias: frozen(w.AttnOutBias),
		ffnNorm: frozen(w.FFNNorm), ffnNormBias: frozen(w.FFNNormBias), gate: frozen(w.Gate),
		up: frozen(w.Up), upBias: frozen(w.UpBias), down: frozen(w.Down), downBias: frozen(w.DownBias)}
}

// peftRun is one pass of a batch: the float64 weights, the methods'
// parameters, and the backward steps recorded by the forward (a tape).
type peftRun struct {
	spec          *Spec
	set           *peft.Set // nil: the base model alone
	params, grads []float64 // set's flat buffers; grads nil: no backward
	train         bool

	wte, wpe, outNorm, outNormBias, out *node // (V,C), (Context,C) or nil, (C), (C) or nil, (V,C)
	layers                              []peftLayer

	B, T, P, VT, S int
	pos            []int // (B,S): position of each row, P+s

	loraScale  float64
	adapterAct string
	projected  []*node // PrefixProjection: layer l's key prefix at 2l, its value prefix at 2l+1

	back []func() // backward steps, in forward order

	// onKV, when set (tests), receives each layer's keys after RoPE and
	// values, (B,S,KV) each.
	onKV func(l int, k, v []float64)
}

// newPEFTRun checks the batch and the parameters against the model and
// prepares a run.
func (r *Reference) newPEFTRun(set *peft.Set, params, grads []float64, b PEFTBatch) (*peftRun, error) {
	s := r.Spec
	p := &peftRun{spec: s, set: set, params: params, grads: grads, B: b.B, T: b.T}
	if err := p.checkParams(); err != nil {
		return nil, err
	}
	if set != nil {
		p.P, p.VT = set.PrefixTokens(), set.VirtualTokens()
		if c, ok := set.Config(peft.LoRA); ok {
			p.loraScale = c.Scale()
		}
		if c, ok := set.Config(peft.Adapter); ok {
			p.adapterAct = c.AdapterAct
		}
	}
	p.S = p.VT + b.T
	if err := p.checkBatch(b, len(r.PosEmbd)/s.Hidden); err != nil {
		return nil, err
	}
	p.pos = make([]int, b.B*p.S)
	for i := range p.pos {
		p.pos[i] = p.P + i%p.S
	}
	p.wte, p.wpe, p.out = frozen(r.TokenEmbd), frozen(r.PosEmbd), frozen(r.Output)
	p.outNorm, p.outNormBias = frozen(r.OutputNorm), frozen(r.OutputBias)
	for i := range r.Layers {
		p.layers = append(p.layers, newPEFTLayer(&r.Layers[i]))
	}
	if set != nil && isFull(set) {
		p.useFullParams()
	}
	return p, nil
}

// checkParams checks the flat buffers against the set and the set against
// the model.
func (p *peftRun) checkParams() error {
	if p.set == nil {
		if len(p.params) != 0 || len(p.grads) != 0 {
			return fmt.Errorf("model: peft reference: parameters without a peft.Set")
		}
		return nil
	}
	if d := PEFTDims(p.spec); p.set.Dims != d {
		return fmt.Errorf("model: peft reference: the set is for %+v, the model is %+v", p.set.Dims, d)
	}
	if len(p.params) != p.set.Size {
		return fmt.Errorf("model: peft reference: %d parameters, the set has %d", len(p.params), p.set.Size)
	}
	if p.grads != nil && len(p.grads) != p.set.Size {
		return fmt.Errorf("model: peft reference: %d gradients, the set has %d", len(p.grads), p.set.Size)
	}
	p.train = p.grads != nil
	return nil
}

// checkBatch checks the batch's shape and tokens; learned (gpt2) holds
// the learned positions, 0 for RoPE models.
func (p *peftRun) checkBatch(b PEFTBatch, learned int) error {
	if b.B <= 0 || b.T <= 0 || len(b.Tokens) != b.B*b.T {
		return fmt.Errorf("model: peft reference: %d tokens for %d sequences of %d", len(b.Tokens), b.B, b.T)
	}
	for i, id := range b.Tokens {
		if id < 0 || id >= p.spec.Vocab {
			return fmt.Errorf("model: peft reference: token %d at %d is outside the vocabulary of %d", id, i, p.spec.Vocab)
		}
	}
	if p.spec.Arch == GPT2 && p.P+p.S > learned {
		return fmt.Errorf("model: peft reference: %d prefix slots, %d virtual and %d real tokens exceed the %d learned positions",
			p.P, p.VT, b.T, learned)
	}
	return nil
}

// param is the named tensor of the set as a node viewing params (and
// grads); nil when the set has no such tensor (method not attached).
func (p *peftRun) param(name string) *node {
	if p.set == nil {
		return nil
	}
	t, ok := p.set.Tensor(name)
	if !ok {
		return nil
	}
	n := &node{v: p.params[t.Off : t.Off+t.Len]}
	if p.train {
		n.g = p.grads[t.Off : t.Off+t.Len]
	}
	return n
}

// blk is layer l's tensor name of the set, e.g. "lora_q.a".
func (p *peftRun) blk(l int, name string) *node {
	return p.param(fmt.Sprintf("blk.%d.%s", l, name))
}

// newNode is an activation of n values, with a gradient when training.
func (p *peftRun) newNode(n int) *node {
	x := &node{v: make([]float64, n)}
	if p.train {
		x.g = make([]float64, n)
	}
	return x
}

// then records a backward step, when training.
func (p *peftRun) then(f func()) {
	if p.train {
		p.back = append(p.back, f)
	}
}

// backward runs the recorded steps in reverse: each op's step runs after
// those of every op that read its output, so its output gradient is whole.
func (p *peftRun) backward() {
	for i := len(p.back) - 1; i >= 0; i-- {
		p.back[i]()
	}
}

// forward returns the logits (B,T,V) of the real rows.
func (p *peftRun) forward(tokens []int) *node {
	x := p.embed(tokens)
	p.projectPrefix()
	for l := range p.layers {
		x = p.block(l, &p.layers[l], x)
	}
	x = p.realRows(p.norm(x, p.outNorm, p.outNormBias))
	return p.linear(x, p.out, nil, p.B*p.T)
}

// block is one transformer layer on the residual stream x (B,S,C). Each
// sublayer's output passes its adapter (if any) before the residual add.
func (p *peftRun) block(l int, w *peftLayer, x *node) *node {
	h := p.attention(l, w, p.norm(x, w.attnNorm, w.attnNormBias))
	x = p.add(x, p.adapter(l, "attn", h))
	h = p.ffn(l, w, p.norm(x, w.ffnNorm, w.ffnNormBias))
	return p.add(x, p.adapter(l, "ffn", h))
}

// attention is the attention sublayer on the normalized x (B,S,C); it
// returns the output projection (B,S,C). IA3 scales the projections'
// outputs (LoRA included) before RoPE; the prefix slots are neither
// scaled nor rotated (they stand for keys and values already made).
func (p *peftRun) attention(l int, w *peftLayer, x *node) *node {
	s, N := p.spec, p.B*p.S
	q := p.scaleCols(p.project(l, "q", x, w.q, w.qBias), p.blk(l, "ia3.q"), N)
	k := p.scaleCols(p.project(l, "k", x, w.k, w.kBias), p.blk(l, "ia3.k"), N)
	v := p.scaleCols(p.project(l, "v", x, w.v, w.vBias), p.blk(l, "ia3.v"), N)
	q, k = p.rope(q, s.Heads), p.rope(k, s.KVHeads)
	if p.onKV != nil {
		p.onKV(l, k.v, v.v)
	}
	y := p.attend(q, k, v, p.prefix(l, 0), p.prefix(l, 1))
	return p.project(l, "o", y, w.attnOut, w.attnOutBias)
}

// ffn is the feed-forward sublayer on the normalized x (B,S,C): SwiGLU or
// GELU, then IA3's scale of the down projection's input (LoRA on down
// included: it reads the scaled input too).
func (p *peftRun) ffn(l int, w *peftLayer, x *node) *node {
	N := p.B * p.S
	h := p.project(l, "up", x, w.up, w.upBias)
	if w.gate != nil {
		h = p.swiglu(p.project(l, "gate", x, w.gate, nil), h)
	} else {
		h = p.gelu(h)
	}
	h = p.scaleCols(h, p.blk(l, "ia3.ffn"), N)
	return p.project(l, "down", h, w.down, w.downBias)
}

// project is module m of layer l, y = x W^T + b, plus its LoRA if one
// targets it: s * (x A^T) B^T, A (r, in), B (out, r).
func (p *peftRun) project(l int, m string, x, w, b *node) *node {
	N := p.B * p.S
	y := p.linear(x, w, b, N)
	a := p.blk(l, "lora_"+m+".a")
	if a == nil {
		return y
	}
	u := p.linear(p.linear(x, a, nil, N), p.blk(l, "lora_"+m+".b"), nil, N) // (N, out)
	return p.axpy(y, u, p.loraScale)
}

// adapter is the bottleneck adapter at place ("attn" or "ffn") of layer l
// on a sublayer's output z (B,S,C): z + up(act(down(z) + down_bias)) +
// up_bias, down (r, C), up (C, r). Without one it is z.
func (p *peftRun) adapter(l int, place string, z *node) *node {
	pre := "adapter_" + place + "."
	down := p.blk(l, pre+"down")
	if down == nil {
		return z
	}
	N := p.B * p.S
	h := p.linear(z, down, p.blk(l, pre+"down_bias"), N) // (N, r)
	if p.adapterAct == "gelu" {
		h = p.gelu(h)
	} else {
		h = p.relu(h)
	}
	return p.add(z, p.linear(h, p.blk(l, pre+"up"), p.blk(l, pre+"up_bias"), N))
}

// embed makes the rows (B,S,C) that enter the first layer: the prompt's
// VT embeddings, then the token embeddings, plus (gpt2) the learned
// position P+s of each row.
func (p *peftRun) embed(tokens []int) *node {
	C := p.spec.Hidden
	prompt := p.param("prompt.embeddings") // (VT, C)
	x := p.newNode(p.B * p.S * C)
	for b := range p.B {
		for s := range p.S {
			row := x.v[(b*p.S+s)*C:][:C]
			if s < p.VT {
				copy(row, prompt.v[s*C:][:C])
			} else {
				copy(row, p.wte.v[tokens[b*p.T+s-p.VT]*C:][:C])
			}
			if p.wpe != nil {
				ref.Add(row, row, p.wpe.v[(p.P+s)*C:][:C])
			}
		}
	}
	if p.wte.g != nil { // full-parameter training
		p.then(func() {
			for b := range p.B {
				for s := p.VT; s < p.S; s++ {
					row := p.wte.g[tokens[b*p.T+s-p.VT]*C:][:C]
					ref.Add(row, row, x.g[(b*p.S+s)*C:][:C])
				}
			}
		})
	}
	if prompt != nil {
		p.then(func() { // every sequence's prompt rows are the same tensor
			for b := range p.B {
				addRows(prompt.g, p.VT, 0, x.g[b*p.S*C:], p.S, 0, 1, p.VT, C)
			}
		})
	}
	return x
}

// realRows drops the virtual rows: (B,S,C) -> (B,T,C).
func (p *peftRun) realRows(x *node) *node {
	C := p.spec.Hidden
	y := p.newNode(p.B * p.T * C)
	addRows(y.v, p.T, 0, x.v, p.S, p.VT, p.B, p.T, C)
	p.then(func() { addRows(x.g, p.S, p.VT, y.g, p.T, 0, p.B, p.T, C) })
	return y
}

// attend is causal attention of every sequence's S rows over the layer's
// P prefix slots, which every row sees, and then its rows up to its own.
// q (B,S,NH,HS), k and v (B,S,NKV,HS), pk and pv (P,KV) or nil; it
// returns (B,S,NH,HS). It runs ref's causal attention on sequences of
// L = P+S rows whose first P queries are zero and whose outputs are
// dropped: row P+s then sees the P slots and rows 0..s, and the dropped
// rows, getting no gradient, give none back.
func (p *peftRun) attend(q, k, v, pk, pv *node) *node {
	s := p.spec
	B, S, P, Q, KV := p.B, p.S, p.P, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	L := P + S
	a := &attnRun{q: make([]float64, B*L*Q), k: make([]float64, B*L*KV), v: make([]float64, B*L*KV),
		att: make([]float64, B*s.Heads*L*L)}
	addRows(a.q, L, P, q.v, S, 0, B, S, Q)
	addRows(a.k, L, P, k.v, S, 0, B, S, KV)
	addRows(a.v, L, P, v.v, S, 0, B, S, KV)
	for b := range B { // the same slots lead every sequence
		if P > 0 {
			addRows(a.k[b*L*KV:], L, 0, pk.v, P, 0, 1, P, KV)
			addRows(a.v[b*L*KV:], L, 0, pv.v, P, 0, 1, P, KV)
		}
	}
	out := make([]float64, B*L*Q)
	ref.AttentionForward(out, a.att, a.q, a.k, a.v, B, L, s.Heads, s.KVHeads, s.HeadDim)
	y := p.newNode(B * S * Q)
	addRows(y.v, S, 0, out, L, P, B, S, Q)
	p.then(func() { p.attendBackward(a, y, q, k, v, pk, pv) })
	return y
}

// attnRun is what attend saves for its backward: the padded q (B,L,NH,HS),
// k and v (B,L,NKV,HS), and the probabilities (B,NH,L,L).
type attnRun struct{ q, k, v, att []float64 }

// attendBackward is attend's backward step: ref's attention backward on
// the padded sequences, then the gradients of the real rows to q, k and v
// and those of the prefix slots, summed over the batch, to pk and pv.
func (p *peftRun) attendBackward(a *attnRun, y, q, k, v, pk, pv *node) {
	s := p.spec
	B, S, P, Q, KV := p.B, p.S, p.P, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	L := P + S
	dout := make([]float64, B*L*Q)
	addRows(dout, L, P, y.g, S, 0, B, S, Q)
	dq, dk, dv := make([]float64, B*L*Q), make([]float64, B*L*KV), make([]float64, B*L*KV)
	ref.AttentionBackward(dq, dk, dv, dout, a.q, a.k, a.v, a.att, B, L, s.Heads, s.KVHeads, s.HeadDim)
	addRows(q.g, S, 0, dq, L, P, B, S, Q)
	addRows(k.g, S, 0, dk, L, P, B, S, KV)
	addRows(v.g, S, 0, dv, L, P, B, S, KV)
	for b := range B {
		if P > 0 {
			addRows(pk.g, P, 0, dk[b*L*KV:], L, 0, 1, P, KV)
			addRows(pv.g, P, 0, dv[b*L*KV:], L, 0, 1, P, KV)
		}
	}
}

// addRows adds, for each of B sequences, rows srcOff..srcOff+rows-1 of src
// (B, srcRows, w) to rows dstOff.. of dst (B, dstRows, w): the copies
// between a sequence's real rows and its padded or prefixed layout, and,
// accumulating, their gradients. A nil dst (no gradient) is skipped.
func addRows(dst []float64, dstRows, dstOff int, src []float64, srcRows, srcOff, B, rows, w int) {
	if dst == nil {
		return
	}
	for b := range B {
		d := dst[(b*dstRows+dstOff)*w:][:rows*w]
		ref.Add(d, d, src[(b*srcRows+srcOff)*w:][:rows*w])
	}
}

// prefix is layer l's prefix keys (kv 0) or values (kv 1), (P, KV); nil
// without prefix tuning.
func (p *peftRun) prefix(l, kv int) *node {
	if p.projected != nil {
		return p.projected[2*l+kv]
	}
	return p.blk(l, "prefix."+[]string{"k", "v"}[kv])
}

// projectPrefix runs prefix tuning's reparameterisation MLP when the set
// has one (PEFT's prefix_projection): y (P, L*2*KV) = tanh(E W1^T + b1)
// W2^T + b2, E the (P, KV) embedding, and splits y into the layers' key
// and value prefixes (P, KV) each.
func (p *peftRun) projectPrefix() {
	if p.set == nil {
		return
	}
	if c, ok := p.set.Config(peft.Prefix); !ok || !c.PrefixProjection {
		return
	}
	h := p.tanh(p.linear(p.param("prefix.embedding"), p.param("prefix.w1"), p.param("prefix.b1"), p.P))
	y := p.linear(h, p.param("prefix.w2"), p.param("prefix.b2"), p.P)
	KV, G := p.spec.KVHeads*p.spec.HeadDim, 2*p.spec.Layers
	blocks := p.newNode(G * p.P * KV)
	ref.SplitBlocksForward(blocks.v, y.v, p.P, G, KV, p.P*KV)
	p.then(func() { ref.SplitBlocksBackward(y.g, blocks.g, p.P, G, KV, p.P*KV) })
	for g := 0; g < G; g++ {
		n := &node{v: blocks.v[g*p.P*KV:][:p.P*KV]}
		if p.train {
			n.g = blocks.g[g*p.P*KV:][:p.P*KV]
		}
		p.projected = append(p.projected, n)
	}
}

// linear is y (N, out) = x (N, in) @ w^T + b, w (out, in), b (out) or nil.
func (p *peftRun) linear(x, w, b *node, N int) *node {
	in := len(x.v) / N
	out := len(w.v) / in
	y := p.newNode(N * out)
	ref.LinearForward(y.v, x.v, w.v, val(b), N, in, out)
	p.then(func() { ref.LinearBackward(x.g, w.g, grad(b), y.g, x.v, w.v, N, in, out) })
	return y
}

// axpy is x + a*y, any shape; add is x + y (a = 1 is exact, so a LoRA
// whose B is zero leaves its module's output bit for bit).
func (p *peftRun) axpy(x, y *node, a float64) *node {
	z := p.newNode(len(x.v))
	for i := range z.v {
		z.v[i] = x.v[i] + a*y.v[i]
	}
	p.then(func() {
		for i, d := range z.g {
			x.g[i] += d
			y.g[i] += a * d
		}
	})
	return z
}

func (p *peftRun) add(x, y *node) *node { return p.axpy(x, y, 1) }

// scaleCols is IA3: x (N, cols) times s (cols) column by column; x itself
// when s is nil (no IA3 vector for this place).
func (p *peftRun) scaleCols(x, s *node, N int) *node {
	if s == nil {
		return x
	}
	cols := len(s.v)
	y := p.newNode(len(x.v))
	ref.ScaleColsForward(y.v, x.v, s.v, N, cols)
	p.then(func() { ref.ScaleColsBackward(x.g, s.g, y.g, x.v, s.v, N, cols) })
	return y
}

// norm is the model's LayerNorm or RMSNorm of every row of x (rows, C).
func (p *peftRun) norm(x, w, b *node) *node {
	C := len(w.v)
	N := len(x.v) / C
	y := p.newNode(len(x.v))
	rstd := make([]float64, N)
	if p.spec.Norm == LayerNorm {
		mean := make([]float64, N)
		ref.LayerNormForward(y.v, mean, rstd, x.v, w.v, val(b), 1, N, C, p.spec.NormEps)
		p.then(func() { ref.LayerNormBackward(x.g, grad(w), grad(b), y.g, x.v, w.v, mean, rstd, 1, N, C) })
		return y
	}
	ref.RMSNormForward(y.v, rstd, x.v, w.v, 1, N, C, p.spec.NormEps)
	p.then(func() { ref.RMSNormBackward(x.g, grad(w), y.g, x.v, w.v, rstd, 1, N, C) })
	return y
}

// rope rotates the H heads of x (B,S,H,HS) to the rows' positions P+s; x
// itself for models without RoPE.
func (p *peftRun) rope(x *node, H int) *node {
	s := p.spec
	if s.Rope == RopeNone {
		return x
	}
	pairs := ref.RopeInterleaved
	if s.Rope == RopeHalf {
		pairs = ref.RopeHalf
	}
	y := p.newNode(len(x.v))
	ref.RopeForward(y.v, x.v, p.pos, p.B, p.S, H, s.HeadDim, s.RopeTheta, pairs)
	p.then(func() { ref.RopeBackward(x.g, y.g, p.pos, p.B, p.S, H, s.HeadDim, s.RopeTheta, pairs) })
	return y
}

// swiglu is silu(gate) * up, any shape.
func (p *peftRun) swiglu(gate, up *node) *node {
	y := p.newNode(len(up.v))
	ref.SwiGLUForward(y.v, gate.v, up.v)
	p.then(func() { ref.SwiGLUBackward(gate.g, up.g, gate.v, up.v, y.g) })
	return y
}

// gelu is GELU (tanh form), any shape.
func (p *peftRun) gelu(x *node) *node {
	y := p.newNode(len(x.v))
	ref.GeluForward(y.v, x.v)
	p.then(func() { ref.GeluBackward(x.g, x.v, y.g) })
	return y
}

// tanh is the hyperbolic tangent, any shape.
func (p *peftRun) tanh(x *node) *node {
	y := p.newNode(len(x.v))
	ref.TanhForward(y.v, x.v)
	p.then(func() { ref.TanhBackward(x.g, x.v, y.g) })
	return y
}

// relu is max(x, 0), any shape.
func (p *peftRun) relu(x *node) *node {
	y := p.newNode(len(x.v))
	ref.ReLUForward(y.v, x.v)
	p.then(func() { ref.ReLUBackward(x.g, x.v, y.g) })
	return y
}

// crossEntropy is the mean over the n targets that are not -1 of
// -log softmax(logits)[target], logits (B*T, V); 0, with no backward
// step, when n is 0.
func (p *peftRun) crossEntropy(logits *node, targets []int) float64 {
	V := p.spec.Vocab
	rows := len(targets)
	n := 0
	for _, t := range targets {
		if t >= 0 {
			n++
		}
	}
	if n == 0 { // the loss is the constant 0: no step may add a gradient
		p.back = nil
		return 0
	}
	losses := make([]float64, rows)
	ref.CrossEntropyForward(losses, logits.v, targets, rows, V)
	p.then(func() {
		dl := make([]float64, rows)
		for i := range dl {
			dl[i] = 1 / float64(n)
		}
		ref.CrossEntropyBackward(logits.g, dl, logits.v, targets, rows, V)
	})
	return ref.Sum(losses) / float64(n)
}
