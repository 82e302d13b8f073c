package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
)

// Output says what a forward program computes after the last layer.
type Output int

const (
	// LastLogits: the logits and argmax of each sequence's last new
	// position (generation).
	LastLogits Output = iota
	// AllLogits: the logits of every new position.
	AllLogits
	// Loss: each position's cross-entropy against its target; logits live
	// only one vocabulary chunk at a time.
	Loss
)

// Cache is the KV cache of B sequences of up to S positions: per layer K
// and V, (B, S, KV) each.
type Cache struct {
	B, S int
	kv   int // KV, floats per position
	k, v []*gpu.Buffer
}

// KV is the width of one cached key or value row.
func (c *Cache) KV() int { return c.kv }

// NewCache allocates a KV cache on g's device. S is bounded by the
// attention kernel (2048) and, for learned positions, by the model's
// context.
func (g *GPU) NewCache(B, S int) (*Cache, error) {
	s := g.Spec
	if B < 1 || S < 1 {
		return nil, fmt.Errorf("model: KV cache of %d x %d positions", B, S)
	}
	if limit := g.MaxPositions(); S > limit {
		return nil, fmt.Errorf("model: %d positions are more than this engine runs for %s (%d)", S, s.Name, limit)
	}
	c := &Cache{B: B, S: S, kv: s.KVHeads * s.HeadDim}
	size := 4 * uint64(B*S*s.KVHeads*s.HeadDim)
	for l := 0; l < s.Layers; l++ {
		k, err := g.d.NewBuffer(fmt.Sprintf("cache.k.%d", l), size)
		if err != nil {
			c.Free()
			return nil, err
		}
		c.k = append(c.k, k)
		v, err := g.d.NewBuffer(fmt.Sprintf("cache.v.%d", l), size)
		if err != nil {
			c.Free()
			return nil, err
		}
		c.v = append(c.v, v)
	}
	return c, nil
}

// MaxPositions is the longest sequence the GPU forward runs: the model's
// context, at most the attention kernel's 2048 keys.
func (g *GPU) MaxPositions() int {
	n := 2048
	if g.Spec.Context > 0 {
		n = min(n, g.Spec.Context)
	}
	if g.pos != nil {
		n = min(n, g.pos.N)
	}
	return n
}

// Free releases the cache.
func (c *Cache) Free() {
	for _, b := range append(c.k, c.v...) {
		b.Free()
	}
	c.k, c.v = nil, nil
}

// Bytes is the cache's GPU memory.
func (c *Cache) Bytes() uint64 {
	var n uint64
	for _, b := range append(c.k, c.v...) {
		n += b.Size
	}
	return n
}

// Program is the forward pass for B sequences of T new tokens, recorded
// once: its calls (pipelines, bind groups, parameters) are built by
// NewProgram and each Run encodes them into one command buffer and submits
// once. Between runs only the token ids, positions and targets are
// uploaded and the attention calls' query position moved.
type Program struct {
	g      *GPU
	B, T   int
	out    Output
	cache  *Cache
	rows   int // rows through the LM head: B (LastLogits) or B*T
	steps  []step
	attn   []*ops.AttnCall
	bufs   []*gpu.Buffer // what Free releases
	tokens *gpu.Buffer   // (B,T) u32
	pos    *gpu.Buffer   // (B,T) u32 absolute positions
	target *gpu.Buffer   // (rows) u32, 0xFFFFFFFF masked
	logits []*gpu.Buffer // per head chunk (rows, chunk); one shared buffer for Loss
	losses *gpu.Buffer   // (rows)
	argmax *gpu.Buffer   // (rows) u32

	ad      *Adapter // PEFT methods applied, or nil
	virtual int      // prompt-tuning rows at the start of each sequence (first run only)
	split   *splitGather
}

// step is one recorded operation: a dispatch, or a copy whose offsets
// depend on the position of the run (the KV-cache writes).
type step struct {
	call *gpu.Call
	copy func(r *gpu.Recorder, pos0 int)
	// For training programs: part of the forward pass and loss (run by
	// Trainer.Loss too), or of the optimizer (run only on update steps).
	forward, optimizer bool
}

// NewProgram records the forward pass for B sequences of T new tokens
// against cache (B sequences of S >= T positions).
func (g *GPU) NewProgram(cache *Cache, T int, out Output) (*Program, error) {
	return g.NewAdapterProgram(cache, T, out, nil, false)
}

// NewAdapterProgram records the forward pass with adapter ad applied (nil:
// none). With first, the program starts sequences: each of its T rows
// begins with the adapter's prompt-tuning rows (T counts them), and each
// run writes the adapter's prefix into the cache's first slots. Positions
// passed to Run count the prefix slots: a sequence's first run starts at
// the adapter's PrefixTokens.
func (g *GPU) NewAdapterProgram(cache *Cache, T int, out Output, ad *Adapter, first bool) (*Program, error) {
	if cache == nil || T < 1 || T > cache.S {
		return nil, fmt.Errorf("model: program of %d tokens for a cache of %v positions", T, cacheS(cache))
	}
	p := &Program{g: g, B: cache.B, T: T, out: out, cache: cache, rows: cache.B * T, ad: ad}
	if first {
		p.virtual = ad.virtual()
		if p.virtual >= T {
			return nil, fmt.Errorf("model: %d rows cannot hold the adapter's %d virtual tokens and a token", T, p.virtual)
		}
	}
	if out == LastLogits {
		p.rows = cache.B
	}
	b := &builder{p: p}
	b.record()
	if b.err != nil {
		p.Free()
		return nil, b.err
	}
	return p, nil
}

func cacheS(c *Cache) int {
	if c == nil {
		return 0
	}
	return c.S
}

// Free releases the program's calls and activations (not the cache).
func (p *Program) Free() {
	for _, st := range p.steps {
		st.call.Free()
	}
	for _, b := range p.bufs {
		b.Free()
	}
	p.steps, p.bufs = nil, nil
}

// ActivationBytes is the GPU memory of the program's activations.
func (p *Program) ActivationBytes() uint64 {
	var n uint64
	for _, b := range p.bufs {
		n += b.Size
	}
	return n
}

// Run uploads tokens (B*T ids, sequence-major) at positions pos0..pos0+T-1
// of every sequence, and targets (rows ids, -1 for none; nil when out is
// not Loss), then submits the whole forward pass once. Read the results
// with Logits, Argmax or Losses.
func (p *Program) Run(tokens []int, pos0 int, targets []int) error {
	s := p.g.Spec
	real := p.T - p.virtual
	if len(tokens) != p.B*real {
		return fmt.Errorf("model: %d tokens for a program of %d x %d", len(tokens), p.B, real)
	}
	if pos0 < 0 || pos0+p.T > p.cache.S {
		return fmt.Errorf("model: positions %d..%d do not fit the cache's %d", pos0, pos0+p.T-1, p.cache.S)
	}
	ids := make([]uint32, len(tokens))
	pos := make([]uint32, p.B*p.T)
	for i, id := range tokens {
		if id < 0 || id >= s.Vocab {
			return fmt.Errorf("model: token %d at %d is outside the vocabulary of %d", id, i, s.Vocab)
		}
		ids[i] = uint32(id)
	}
	for i := range pos {
		pos[i] = uint32(pos0 + i%p.T)
	}
	if err := p.tokens.UploadU32(0, ids); err != nil {
		return err
	}
	if p.split != nil {
		if err := p.split.upload(ids); err != nil {
			return err
		}
	}
	if err := p.pos.UploadU32(0, pos); err != nil {
		return err
	}
	if err := p.uploadTargets(targets); err != nil {
		return err
	}
	for _, a := range p.attn {
		if err := a.SetPos(pos0); err != nil {
			return err
		}
	}
	r := p.g.d.NewRecorder(fmt.Sprintf("forward %dx%d", p.B, p.T))
	for _, st := range p.steps {
		if st.call != nil {
			r.Dispatch(st.call)
		} else {
			st.copy(r, pos0)
		}
	}
	return r.Submit()
}

func (p *Program) uploadTargets(targets []int) error {
	t := make([]uint32, p.rows)
	for i := range t {
		t[i] = 0xFFFFFFFF
	}
	if targets != nil {
		if len(targets) != p.rows {
			return fmt.Errorf("model: %d targets for %d rows", len(targets), p.rows)
		}
		for i, id := range targets {
			if id >= p.g.Spec.Vocab || id < -1 {
				return fmt.Errorf("model: target %d at %d is outside the vocabulary of %d", id, i, p.g.Spec.Vocab)
			}
			if id >= 0 {
				t[i] = uint32(id)
			}
		}
	}
	return p.target.UploadU32(0, t)
}

// Logits reads the logits of the last run, one row of V per row of the
// program (LastLogits and AllLogits programs only).
func (p *Program) Logits() ([][]float32, error) {
	if p.out == Loss {
		return nil, fmt.Errorf("model: a loss program keeps no logits")
	}
	V := p.g.Spec.Vocab
	rows := make([][]float32, p.rows)
	for i := range rows {
		rows[i] = make([]float32, V)
	}
	for c, w := range p.g.head {
		v, err := p.logits[c].ReadF32(p.rows * w.N)
		if err != nil {
			return nil, err
		}
		for i := range rows {
			copy(rows[i][p.g.headRow[c]:], v[i*w.N:(i+1)*w.N])
		}
	}
	return rows, nil
}

// Argmax reads each row's most likely token (lowest id on ties).
func (p *Program) Argmax() ([]int, error) {
	b, err := p.argmax.Read(0, 4*uint64(p.rows))
	if err != nil {
		return nil, err
	}
	ids := make([]int, p.rows)
	for i := range ids {
		ids[i] = int(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return ids, nil
}

// Losses reads each row's cross-entropy (0 where the target was -1).
func (p *Program) Losses() ([]float32, error) { return p.losses.ReadF32(p.rows) }

// builder records a program's steps, remembering the first error.
type builder struct {
	p   *Program
	err error
}

func (b *builder) buf(label string, floats int) *gpu.Buffer {
	if b.err != nil {
		return nil
	}
	buf, err := b.p.g.d.NewBuffer(label, 4*uint64(max(floats, 1)))
	if err != nil {
		b.err = err
		return nil
	}
	b.p.bufs = append(b.p.bufs, buf)
	return buf
}

func (b *builder) add(c *gpu.Call, err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
	if b.err == nil {
		b.p.steps = append(b.p.steps, step{call: c})
	}
}

// acts are the activations of one program; sublayers reuse them.
type acts struct {
	x     [2]*gpu.Buffer // (B,T,C) the residual stream, ping-pong
	ln    *gpu.Buffer    // (B,T,C) a sublayer's normalized input
	mean  *gpu.Buffer    // (B,T) LayerNorm mean
	rstd  *gpu.Buffer    // (B,T)
	q, qr *gpu.Buffer    // (B,T,Q) before and after RoPE
	k, kr *gpu.Buffer    // (B,T,KV)
	v     *gpu.Buffer    // (B,T,KV)
	atty  *gpu.Buffer    // (B,T,Q)
	proj  *gpu.Buffer    // (B,T,C)
	h, up *gpu.Buffer    // (B,T,FFN)
	act   *gpu.Buffer    // (B,T,FFN)
	cur   int            // which x holds the residual stream

	// With an adapter: LoRA's x A^T (B,T,r), IA3's scaled copies, an
	// adapter's bottleneck (B,T,r) twice and its output (B,T,C).
	lora, ah, aa, aout *gpu.Buffer
	q3, k3, v3, act3   *gpu.Buffer
}

func (b *builder) record() {
	p, g, s := b.p, b.p.g, b.p.g.Spec
	n := p.B * p.T
	C, Q, KV, FFN := s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	p.tokens, p.pos = b.buf("tokens", n), b.buf("positions", n)
	p.target = b.buf("targets", p.rows)
	a := &acts{ln: b.buf("ln", n*C), mean: b.buf("mean", n), rstd: b.buf("rstd", n),
		q: b.buf("q", n*Q), qr: b.buf("q.rope", n*Q), k: b.buf("k", n*KV), kr: b.buf("k.rope", n*KV),
		v: b.buf("v", n*KV), atty: b.buf("atty", n*Q), proj: b.buf("proj", n*C),
		h: b.buf("h", n*FFN), up: b.buf("up", n*FFN), act: b.buf("act", n*FFN)}
	a.x = [2]*gpu.Buffer{b.buf("x0", n*C), b.buf("x1", n*C)}
	p.split = newSplitGather(g, p.B*(p.T-p.virtual), b.buf)
	b.adapterActs(a)
	if b.err != nil {
		return
	}
	b.embed(a)
	for l := range g.layers {
		b.attention(a, l)
		b.ffn(a, l)
	}
	b.head(a)
}

// gatherTokens records dst (n, C) = the token embedding rows of the run's
// ids, chunk by chunk when the table is split.
func (b *builder) gatherTokens(dst *gpu.Buffer, n int) {
	p := b.p
	if p.split == nil {
		b.add(p.g.k.gather(dst, p.g.embd, p.tokens, n))
		return
	}
	calls, err := p.split.calls()
	if err != nil {
		b.add(nil, err)
		return
	}
	for _, c := range calls {
		b.add(c, nil)
	}
	split := p.split
	b.p.steps = append(b.p.steps, step{copy: func(r *gpu.Recorder, _ int) { split.copies(r, dst) }})
}

// adapterActs allocates the buffers an adapter's methods need.
func (b *builder) adapterActs(a *acts) {
	p, s := b.p, b.p.g.Spec
	ad := p.ad
	if ad == nil || b.err != nil {
		return
	}
	if b.err = p.g.k.preparePEFT(); b.err != nil {
		return
	}
	n, C, Q, KV, F := p.B*p.T, s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	if c, ok := ad.Set.Config(peft.LoRA); ok {
		a.lora = b.buf("lora.h", n*c.Rank)
	}
	if c, ok := ad.Set.Config(peft.Adapter); ok {
		a.ah, a.aa, a.aout = b.buf("adapter.h", n*c.Bottleneck), b.buf("adapter.a", n*c.Bottleneck), b.buf("adapter.out", n*C)
	}
	if _, ok := ad.Set.Config(peft.IA3); ok {
		a.q3, a.k3, a.v3, a.act3 = b.buf("q.ia3", n*Q), b.buf("k.ia3", n*KV), b.buf("v.ia3", n*KV), b.buf("act.ia3", n*F)
	}
	if P := ad.prefix(); P > 0 {
		for l := range p.g.layers {
			b.prefixWrite(p.cache.k[l], ad.tensor(fmt.Sprintf("blk.%d.prefix.k", l)), P*KV)
			b.prefixWrite(p.cache.v[l], ad.tensor(fmt.Sprintf("blk.%d.prefix.v", l)), P*KV)
		}
	}
}

// prefixWrite copies a prefix (P, KV) into every sequence's first cache
// slots, at each run.
func (b *builder) prefixWrite(cache, prefix *gpu.Buffer, floats int) {
	p := b.p
	size := 4 * uint64(floats)
	b.p.steps = append(b.p.steps, step{copy: func(r *gpu.Recorder, _ int) {
		for s := 0; s < p.B; s++ {
			r.Copy(prefix, 0, cache, uint64(s*p.cache.S)*4*uint64(p.cache.KV()), size)
		}
	}})
}

// embed writes the residual stream's first value: per sequence the
// adapter's prompt-tuning rows (first programs only), then the token
// embeddings, plus learned positions for gpt2.
func (b *builder) embed(a *acts) {
	p, g := b.p, b.p.g
	n, C := p.B*p.T, g.Spec.Hidden
	x := a.x[0]
	if g.pos != nil {
		x = a.x[1]
	}
	if p.virtual == 0 {
		b.gatherTokens(x, n)
	} else {
		b.gatherTokens(a.proj, p.B*(p.T-p.virtual))
		prompt, row := p.ad.tensor("prompt.embeddings"), 4*uint64(C)
		real := p.T - p.virtual
		b.p.steps = append(b.p.steps, step{copy: func(r *gpu.Recorder, _ int) {
			for s := 0; s < p.B; s++ {
				r.Copy(prompt, 0, x, uint64(s*p.T)*row, uint64(p.virtual)*row)
				r.Copy(a.proj, uint64(s*real)*row, x, uint64(s*p.T+p.virtual)*row, uint64(real)*row)
			}
		}})
	}
	if g.pos != nil {
		b.add(g.k.gather(a.proj, g.pos, p.pos, n))
		b.add(g.k.ew.Add(a.x[0], a.x[1], a.proj, n*C))
	}
}

// norm normalizes the residual stream into a.ln.
func (b *builder) norm(a *acts, weight, bias *gpu.Buffer) {
	s := b.p.g.Spec
	n := b.p.B * b.p.T
	eps := float32(s.NormEps)
	if s.Norm == LayerNorm {
		b.add(b.p.g.k.norm.LayerNorm(a.ln, a.mean, a.rstd, a.x[a.cur], weight, bias, n, s.Hidden, eps))
	} else {
		b.add(b.p.g.k.norm.RMSNorm(a.ln, a.rstd, a.x[a.cur], weight, n, s.Hidden, eps))
	}
}

// linear records y = x @ W^T (+ bias) (+ the adapter's LoRA of module m
// of layer l) for n rows.
func (b *builder) linear(y, x *gpu.Buffer, w *weight, bias *gpu.Buffer, n, l int, m string, a *acts) {
	k := b.p.g.k
	b.add(k.linear(y, x, w, n))
	if bias != nil {
		b.add(k.bias.Call(y, bias, n, w.N))
	}
	if A, B, c, ok := b.p.ad.lora(l, m); ok {
		b.add(k.gemm.Call(a.lora, x, A, n, c.Rank, w.K, false, true, 1, 0))
		b.add(k.gemm.Call(y, a.lora, B, n, w.N, c.Rank, false, true, float32(c.Scale()), 1))
	}
}

// ia3 records out = in * the adapter's IA3 vector (l, which) and returns
// out, or returns in when there is no such vector.
func (b *builder) ia3(out, in *gpu.Buffer, l int, which string, cols int) *gpu.Buffer {
	v := b.p.ad.ia3(l, which)
	if v == nil {
		return in
	}
	b.add(b.p.g.k.scale.Forward(out, in, v, b.p.B*b.p.T, cols))
	return out
}

// bottleneck records a.aout = z + up(act(down(z) + down_bias)) + up_bias
// and returns a.aout, or returns z when the adapter has none at place.
func (b *builder) bottleneck(a *acts, z *gpu.Buffer, l int, place string) *gpu.Buffer {
	ad := b.p.ad
	if ad.tensor(fmt.Sprintf("blk.%d.adapter_%s.down", l, place)) == nil {
		return z
	}
	c, _ := ad.Set.Config(peft.Adapter)
	k, n, C, r := b.p.g.k, b.p.B*b.p.T, b.p.g.Spec.Hidden, c.Bottleneck
	t := func(x string) *gpu.Buffer { return ad.tensor(fmt.Sprintf("blk.%d.adapter_%s.%s", l, place, x)) }
	b.add(k.gemm.Call(a.ah, z, t("down"), n, r, C, false, true, 1, 0))
	b.add(k.bias.Call(a.ah, t("down_bias"), n, r))
	if c.AdapterAct == "gelu" {
		b.add(k.act.Gelu(a.aa, a.ah, n*r))
	} else {
		b.add(k.relu.Forward(a.aa, a.ah, n*r))
	}
	b.p.steps = append(b.p.steps, step{copy: func(r *gpu.Recorder, _ int) { r.Copy(z, 0, a.aout, 0, 4*uint64(n*C)) }})
	b.add(k.gemm.Call(a.aout, a.aa, t("up"), n, C, r, false, true, 1, 1))
	b.add(k.bias.Call(a.aout, t("up_bias"), n, C))
	return a.aout
}

// residual adds a sublayer's output to the residual stream.
func (b *builder) residual(a *acts, out *gpu.Buffer) {
	n := b.p.B * b.p.T * b.p.g.Spec.Hidden
	b.add(b.p.g.k.ew.Add(a.x[1-a.cur], a.x[a.cur], out, n))
	a.cur = 1 - a.cur
}

func (b *builder) attention(a *acts, l int) {
	p, g, s := b.p, b.p.g, b.p.g.Spec
	w := &g.layers[l]
	n, Q, KV := p.B*p.T, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	b.norm(a, w.attnNorm, w.attnNormBias)
	b.linear(a.q, a.ln, w.q, w.qb, n, l, "q", a)
	b.linear(a.k, a.ln, w.k, w.kb, n, l, "k", a)
	b.linear(a.v, a.ln, w.v, w.vb, n, l, "v", a)
	q := b.ia3(a.q3, a.q, l, "q", Q)
	k := b.ia3(a.k3, a.k, l, "k", KV)
	v := b.ia3(a.v3, a.v, l, "v", KV)
	if s.Rope != RopeNone {
		pairs, theta := ropePairs(s), float32(s.RopeTheta)
		b.add(g.k.rope.Forward(a.qr, q, p.pos, p.B, p.T, s.Heads, s.HeadDim, theta, pairs))
		b.add(g.k.rope.Forward(a.kr, k, p.pos, p.B, p.T, s.KVHeads, s.HeadDim, theta, pairs))
		q, k = a.qr, a.kr
	}
	b.cacheWrite(k, p.cache.k[l], KV)
	b.cacheWrite(v, p.cache.v[l], KV)
	if b.err != nil {
		return
	}
	shape := ops.AttnShape{B: p.B, T: p.T, S: p.cache.S, NH: s.Heads, NKV: s.KVHeads, HS: s.HeadDim}
	c, err := g.k.attn.Cached(a.atty, nil, q, p.cache.k[l], p.cache.v[l], shape)
	if err == nil {
		p.attn = append(p.attn, c)
		b.add(c.Call, nil)
	} else {
		b.add(nil, err)
	}
	b.linear(a.proj, a.atty, w.o, w.ob, n, l, "o", a)
	b.residual(a, b.bottleneck(a, a.proj, l, "attn"))
}

// cacheWrite copies the (B,T,width) rows of x into the cache at the run's
// positions pos0..pos0+T-1 of each sequence.
func (b *builder) cacheWrite(x, cache *gpu.Buffer, width int) {
	p := b.p
	row := 4 * uint64(width)
	b.p.steps = append(b.p.steps, step{copy: func(r *gpu.Recorder, pos0 int) {
		for s := 0; s < p.B; s++ {
			r.Copy(x, uint64(s*p.T)*row, cache, uint64(s*p.cache.S+pos0)*row, uint64(p.T)*row)
		}
	}})
}

func (b *builder) ffn(a *acts, l int) {
	p, g := b.p, b.p.g
	w := &g.layers[l]
	n, FFN := p.B*p.T, g.Spec.FFN
	b.norm(a, w.ffnNorm, w.ffnNormBias)
	b.linear(a.up, a.ln, w.up, w.upb, n, l, "up", a)
	if w.gate != nil {
		b.linear(a.h, a.ln, w.gate, nil, n, l, "gate", a)
		b.add(g.k.act.SwiGLU(a.act, a.h, a.up, n*FFN))
	} else {
		b.add(g.k.act.Gelu(a.act, a.up, n*FFN))
	}
	act := b.ia3(a.act3, a.act, l, "ffn", FFN)
	b.linear(a.proj, act, w.down, w.downb, n, l, "down", a)
	b.residual(a, b.bottleneck(a, a.proj, l, "ffn"))
}

// head records the final norm, the LM head chunk by chunk and the
// per-row loss and argmax over the whole vocabulary.
func (b *builder) head(a *acts) {
	p, g := b.p, b.p.g
	C := g.Spec.Hidden
	b.norm(a, g.outNorm, g.outBias)
	in := a.ln
	if p.out == LastLogits {
		in = b.buf("ln.last", p.B*C)
		if b.err != nil {
			return
		}
		row := 4 * uint64(C)
		ln := a.ln
		b.p.steps = append(b.p.steps, step{copy: func(r *gpu.Recorder, _ int) {
			for s := 0; s < p.B; s++ {
				r.Copy(ln, uint64((s+1)*p.T-1)*row, in, uint64(s)*row, row)
			}
		}})
	}
	chunks := len(g.head)
	partials := b.buf("vocab.partials", ops.PartialFloats(p.rows, chunks))
	p.losses, p.argmax = b.buf("losses", p.rows), b.buf("argmax", p.rows)
	var shared *gpu.Buffer
	for c, w := range g.head {
		logits := shared
		if p.out != Loss || shared == nil {
			logits = b.buf(fmt.Sprintf("logits.%d", c), p.rows*g.head[0].N)
			p.logits = append(p.logits, logits)
		}
		if p.out == Loss {
			shared = logits
		}
		b.add(g.k.linear(logits, in, w, p.rows))
		b.add(g.k.vocab.Partial(partials, logits, p.target, p.rows, w.N, g.headRow[c], c, chunks))
	}
	b.add(g.k.vocab.Final(p.losses, p.argmax, partials, p.rows, chunks))
}
