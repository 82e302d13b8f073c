package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/ref"
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
	k, v []*gpu.Buffer
}

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
	c := &Cache{B: B, S: S}
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
}

// step is one recorded operation: a dispatch, or a copy whose offsets
// depend on the position of the run (the KV-cache writes).
type step struct {
	call *gpu.Call
	copy func(r *gpu.Recorder, pos0 int)
}

// NewProgram records the forward pass for B sequences of T new tokens
// against cache (B sequences of S >= T positions).
func (g *GPU) NewProgram(cache *Cache, T int, out Output) (*Program, error) {
	if cache == nil || T < 1 || T > cache.S {
		return nil, fmt.Errorf("model: program of %d tokens for a cache of %v positions", T, cacheS(cache))
	}
	p := &Program{g: g, B: cache.B, T: T, out: out, cache: cache, rows: cache.B * T}
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
	if len(tokens) != p.B*p.T {
		return fmt.Errorf("model: %d tokens for a program of %d x %d", len(tokens), p.B, p.T)
	}
	if pos0 < 0 || pos0+p.T > p.cache.S {
		return fmt.Errorf("model: positions %d..%d do not fit the cache's %d", pos0, pos0+p.T-1, p.cache.S)
	}
	ids := make([]uint32, len(tokens))
	pos := make([]uint32, len(tokens))
	for i, id := range tokens {
		if id < 0 || id >= s.Vocab {
			return fmt.Errorf("model: token %d at %d is outside the vocabulary of %d", id, i, s.Vocab)
		}
		ids[i], pos[i] = uint32(id), uint32(pos0+i%p.T)
	}
	if err := p.tokens.UploadU32(0, ids); err != nil {
		return err
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
}

func (b *builder) record() {
	p, g, s := b.p, b.p.g, b.p.g.Spec
	n := p.B * p.T
	C, Q, KV, FFN := s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim, s.FFN
	if limit := g.d.Limits.MaxStorageBufferBindingSize; g.embd.bytes() > limit {
		b.err = fmt.Errorf("model: the token embedding (%d bytes) is larger than one storage binding (%d bytes) on %s; split embedding tables are not supported yet", g.embd.bytes(), limit, g.d.Info.Name)
		return
	}
	p.tokens, p.pos = b.buf("tokens", n), b.buf("positions", n)
	p.target = b.buf("targets", p.rows)
	a := &acts{ln: b.buf("ln", n*C), mean: b.buf("mean", n), rstd: b.buf("rstd", n),
		q: b.buf("q", n*Q), qr: b.buf("q.rope", n*Q), k: b.buf("k", n*KV), kr: b.buf("k.rope", n*KV),
		v: b.buf("v", n*KV), atty: b.buf("atty", n*Q), proj: b.buf("proj", n*C),
		h: b.buf("h", n*FFN), up: b.buf("up", n*FFN), act: b.buf("act", n*FFN)}
	a.x = [2]*gpu.Buffer{b.buf("x0", n*C), b.buf("x1", n*C)}
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

func (b *builder) embed(a *acts) {
	p, g := b.p, b.p.g
	n := p.B * p.T
	if g.pos == nil {
		b.add(g.k.gather(a.x[0], g.embd, p.tokens, n))
		return
	}
	b.add(g.k.gather(a.x[1], g.embd, p.tokens, n))
	b.add(g.k.gather(a.proj, g.pos, p.pos, n))
	b.add(g.k.ew.Add(a.x[0], a.x[1], a.proj, n*g.Spec.Hidden))
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

// linear records y = x @ W^T (+ bias) for n rows.
func (b *builder) linear(y, x *gpu.Buffer, w *weight, bias *gpu.Buffer, n int) {
	b.add(b.p.g.k.linear(y, x, w, n))
	if bias != nil {
		b.add(b.p.g.k.bias.Call(y, bias, n, w.N))
	}
}

// residual adds a.proj to the residual stream.
func (b *builder) residual(a *acts) {
	n := b.p.B * b.p.T * b.p.g.Spec.Hidden
	b.add(b.p.g.k.ew.Add(a.x[1-a.cur], a.x[a.cur], a.proj, n))
	a.cur = 1 - a.cur
}

func (b *builder) attention(a *acts, l int) {
	p, g, s := b.p, b.p.g, b.p.g.Spec
	w := &g.layers[l]
	n, KV := p.B*p.T, s.KVHeads*s.HeadDim
	b.norm(a, w.attnNorm, w.attnNormBias)
	b.linear(a.q, a.ln, w.q, w.qb, n)
	b.linear(a.k, a.ln, w.k, w.kb, n)
	b.linear(a.v, a.ln, w.v, w.vb, n)
	q, k := a.q, a.k
	if s.Rope != RopeNone {
		pairs := ref.RopeInterleaved
		if s.Rope == RopeHalf {
			pairs = ref.RopeHalf
		}
		theta := float32(s.RopeTheta)
		b.add(g.k.rope.Forward(a.qr, a.q, p.pos, p.B, p.T, s.Heads, s.HeadDim, theta, pairs))
		b.add(g.k.rope.Forward(a.kr, a.k, p.pos, p.B, p.T, s.KVHeads, s.HeadDim, theta, pairs))
		q, k = a.qr, a.kr
	}
	b.cacheWrite(k, p.cache.k[l], KV)
	b.cacheWrite(a.v, p.cache.v[l], KV)
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
	b.linear(a.proj, a.atty, w.o, w.ob, n)
	b.residual(a)
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
	b.linear(a.up, a.ln, w.up, w.upb, n)
	if w.gate != nil {
		b.linear(a.h, a.ln, w.gate, nil, n)
		b.add(g.k.act.SwiGLU(a.act, a.h, a.up, n*FFN))
	} else {
		b.add(g.k.act.Gelu(a.act, a.up, n*FFN))
	}
	b.linear(a.proj, a.act, w.down, w.downb, n)
	b.residual(a)
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
