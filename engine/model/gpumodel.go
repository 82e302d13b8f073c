package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// GPU is a model's frozen weights on a device, in their file's types, and
// the kernels that run them. Programs (NewProgram) run forward passes on it.
//
// Shapes: V vocab, C hidden, L layers, NH heads, NKV KV heads, HS head
// size, FFN feed-forward width, Q = NH*HS, KV = NKV*HS.
type GPU struct {
	Spec *Spec
	d    *gpu.Device
	k    *kernels

	embd       *weight   // (V, C) token embeddings
	embdChunks []*weight // row views of embd when it is larger than a binding, else nil
	embdRow    []int     // first row of each chunk
	pos        *weight   // (Context, C) learned positions, gpt2 only
	layers     []gpuLayer
	outNorm    *gpu.Buffer // (C)
	outBias    *gpu.Buffer // (C), LayerNorm models only
	head       []*weight   // the LM head (V, C) in chunks of whole 256-row views
	headRow    []int       // first vocabulary row of each chunk

	owned       []*weight     // what Free releases
	vectors     []*gpu.Buffer // norms and biases, f32
	WeightBytes uint64        // GPU bytes of weights, vectors included

	full *fullParams // full-parameter training's flat weights, or nil
}

// gpuLayer is one transformer block on the GPU; biases are nil where the
// architecture has none. gpt2's fused QKV is uploaded as three matrices.
type gpuLayer struct {
	attnNorm, attnNormBias *gpu.Buffer
	q, k, v, o             *weight
	qb, kb, vb, ob         *gpu.Buffer
	ffnNorm, ffnNormBias   *gpu.Buffer
	gate, up, down         *weight
	upb, downb             *gpu.Buffer
}

// LoadOptions tune LoadGPU; the zero value is the default.
type LoadOptions struct {
	// HeadChunk is the most vocabulary rows per LM-head chunk (rounded
	// down to a multiple of 256); 0 means 16384. The storage-binding limit
	// may make chunks smaller.
	HeadChunk int
	// EmbedChunk, when set, splits the token embedding into chunks of at
	// most this many rows (rounded down to a multiple of 256) even when it
	// fits one storage binding (tests of the split path).
	EmbedChunk int
	// Progress, when set, is called after each tensor with the bytes
	// uploaded so far and the model's total.
	Progress func(done, total int64)
	// Full, when set (FullSet), uploads every tensor into one flat buffer
	// laid out by it, the parameters of full-parameter training
	// (GPU.FullParams); the model must be F32.
	Full *peft.Set
}

// defaultHeadChunk bounds a logits chunk: (rows, 16384) f32.
const defaultHeadChunk = 16384

// LoadGPU uploads m's weights to d and builds the kernels. An
// architecture, option or tensor type the GPU engine cannot run is refused
// here, by name.
func LoadGPU(d *gpu.Device, m *Model, opt LoadOptions) (*GPU, error) {
	s := m.Spec
	if err := checkReference(s); err != nil {
		return nil, fmt.Errorf("%w (GPU forward)", err)
	}
	if err := checkTypes(s); err != nil {
		return nil, err
	}
	k, err := newKernels(d)
	if err != nil {
		return nil, err
	}
	g := &GPU{Spec: s, d: d, k: k}
	l := &loader{g: g, m: m, opt: opt, alloc: ownBuffer(d)}
	if opt.Full != nil {
		if g.full, err = newFullParams(d, s, opt.Full); err != nil {
			g.Free()
			return nil, err
		}
		l.alloc = g.full.alloc
	}
	l.load()
	if l.err != nil {
		g.Free()
		return nil, l.err
	}
	return g, nil
}

// checkTypes refuses a model with a matrix of a type no kernel decodes,
// before anything is uploaded.
func checkTypes(s *Spec) error {
	for _, t := range s.Tensors {
		if len(t.Shape) < 2 {
			continue
		}
		typ, err := tensor.ParseType(t.Type)
		if err != nil || !runnable(typ) {
			return fmt.Errorf("model: tensor %s is %s; the GPU engine runs %v", t.Name, t.Type, runnableTypes())
		}
	}
	return nil
}

// Free releases every buffer of g.
func (g *GPU) Free() {
	for _, w := range g.owned {
		w.free()
	}
	for _, b := range g.vectors {
		b.Free()
	}
	g.owned, g.vectors = nil, nil
	g.full.free()
	g.k.free()
}

// Device is the device g lives on.
func (g *GPU) Device() *gpu.Device { return g.d }

// loader uploads tensors one by one, remembering the first error.
type loader struct {
	g     *GPU
	m     *Model
	opt   LoadOptions
	alloc allocator
	err   error
	done  int64
}

func (l *loader) progress(bytes uint64) {
	l.done += int64(bytes)
	if l.opt.Progress != nil {
		l.opt.Progress(l.done, l.m.Bytes)
	}
}

// matrix uploads rows [row0, row0+rows) of the named (any, cols) tensor.
func (l *loader) matrix(name string, row0, rows, cols int, gather bool) *weight {
	if l.err != nil {
		return nil
	}
	t, ok := l.m.Spec.Tensor(name)
	if !ok {
		l.err = fmt.Errorf("model: no tensor %q", name)
		return nil
	}
	if t.RowLen() != cols || t.Rows() < row0+rows {
		l.err = fmt.Errorf("model: %s is %v, want rows [%d, %d) of %d columns", name, t.Shape, row0, row0+rows, cols)
		return nil
	}
	w, err := uploadWeight(l.g.d, l.alloc, l.m, name, row0, rows, cols)
	if err == nil {
		err = l.g.k.prepare(w.Type, gather)
	}
	if err != nil {
		l.err = err
		return nil
	}
	l.g.owned = append(l.g.owned, w)
	l.g.WeightBytes += w.bytes()
	l.progress(w.bytes())
	return w
}

// vector uploads a 1-D tensor of n values; an absent optional one is nil.
func (l *loader) vector(name string, n int, optional bool) *gpu.Buffer {
	if l.err != nil {
		return nil
	}
	t, ok := l.m.Spec.Tensor(name)
	if !ok {
		if !optional {
			l.err = fmt.Errorf("model: no tensor %q", name)
		}
		return nil
	}
	if t.Rows()*t.RowLen() != n {
		l.err = fmt.Errorf("model: %s is %v, want %d values", name, t.Shape, n)
		return nil
	}
	b, err := uploadVector(l.alloc, l.m, name)
	if err != nil {
		l.err = err
		return nil
	}
	l.g.vectors = append(l.g.vectors, b)
	l.g.WeightBytes += b.Size
	l.progress(b.Size)
	return b
}

// split uploads an optional fused bias of q+kv+kv values as three vectors.
func (l *loader) split(name string, sizes ...int) []*gpu.Buffer {
	out := make([]*gpu.Buffer, len(sizes))
	if l.err != nil {
		return out
	}
	if _, ok := l.m.Spec.Tensor(name); !ok {
		return out
	}
	all, err := l.m.ReadF32(name, 0, 1)
	if err != nil {
		l.err = err
		return out
	}
	off := 0
	for i, n := range sizes {
		if off+n > len(all) {
			l.err = fmt.Errorf("model: %s holds %d values, want %d", name, len(all), off+n)
			return out
		}
		b, err := l.g.d.NewBuffer(fmt.Sprintf("%s[%d:%d]", name, off, off+n), 4*uint64(n))
		if err == nil {
			err = b.UploadF32(0, all[off:off+n])
		}
		if err != nil {
			l.err = err
			return out
		}
		l.g.vectors = append(l.g.vectors, b)
		l.g.WeightBytes += b.Size
		out[i] = b
		off += n
	}
	return out
}

func (l *loader) load() {
	g, s := l.g, l.m.Spec
	C, Q, KV := s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	gpt2 := s.Arch == GPT2
	g.embd = l.matrix("token_embd.weight", 0, s.Vocab, C, true)
	if gpt2 {
		if pe, ok := s.Tensor("position_embd.weight"); ok {
			g.pos = l.matrix(pe.Name, 0, pe.Rows(), C, true)
		} else if l.err == nil {
			l.err = fmt.Errorf("model: gpt2 has no position_embd.weight")
		}
	}
	g.layers = make([]gpuLayer, s.Layers)
	for i := range g.layers {
		l.layer(&g.layers[i], i, C, Q, KV)
	}
	g.outNorm = l.vector("output_norm.weight", C, false)
	g.outBias = l.vector("output_norm.bias", C, !gpt2)
	head := g.embd
	if !s.TiedEmbeddings {
		head = l.matrix("output.weight", 0, s.Vocab, C, false)
	}
	if l.err == nil {
		l.err = g.chunkHead(head, l.opt.HeadChunk)
	}
	if l.err == nil {
		l.err = g.chunkEmbed(g.d.Limits.MaxStorageBufferBindingSize, l.opt.EmbedChunk)
	}
}

func (l *loader) layer(w *gpuLayer, i, C, Q, KV int) {
	s := l.m.Spec
	blk := func(n string) string { return fmt.Sprintf("blk.%d.%s", i, n) }
	gpt2 := s.Arch == GPT2
	w.attnNorm = l.vector(blk("attn_norm.weight"), C, false)
	w.attnNormBias = l.vector(blk("attn_norm.bias"), C, !gpt2)
	if gpt2 {
		qkv := blk("attn_qkv.weight")
		w.q = l.matrix(qkv, 0, Q, C, false)
		w.k = l.matrix(qkv, Q, KV, C, false)
		w.v = l.matrix(qkv, Q+KV, KV, C, false)
		b := l.split(blk("attn_qkv.bias"), Q, KV, KV)
		w.qb, w.kb, w.vb = b[0], b[1], b[2]
	} else {
		w.q = l.matrix(blk("attn_q.weight"), 0, Q, C, false)
		w.k = l.matrix(blk("attn_k.weight"), 0, KV, C, false)
		w.v = l.matrix(blk("attn_v.weight"), 0, KV, C, false)
		w.qb = l.vector(blk("attn_q.bias"), Q, true)
		w.kb = l.vector(blk("attn_k.bias"), KV, true)
		w.vb = l.vector(blk("attn_v.bias"), KV, true)
		w.gate = l.matrix(blk("ffn_gate.weight"), 0, s.FFN, C, false)
	}
	w.o = l.matrix(blk("attn_output.weight"), 0, C, Q, false)
	w.ob = l.vector(blk("attn_output.bias"), C, true)
	w.ffnNorm = l.vector(blk("ffn_norm.weight"), C, false)
	w.ffnNormBias = l.vector(blk("ffn_norm.bias"), C, !gpt2)
	w.up = l.matrix(blk("ffn_up.weight"), 0, s.FFN, C, false)
	w.upb = l.vector(blk("ffn_up.bias"), s.FFN, true)
	w.down = l.matrix(blk("ffn_down.weight"), 0, C, s.FFN, false)
	w.downb = l.vector(blk("ffn_down.bias"), C, true)
}

// chunkHead splits the LM head into views of at most chunk rows (and at
// most one storage binding each).
func (g *GPU) chunkHead(head *weight, chunk int) error {
	if chunk <= 0 {
		chunk = defaultHeadChunk
	}
	rows := min(max(256, chunk/256*256), head.bindingRows(g.d.Limits.MaxStorageBufferBindingSize))
	if rows >= head.N {
		g.head, g.headRow = []*weight{head}, []int{0}
		return nil
	}
	for r0 := 0; r0 < head.N; r0 += rows {
		v, err := head.rows(r0, min(rows, head.N-r0))
		if err != nil {
			return err
		}
		g.head = append(g.head, v)
		g.headRow = append(g.headRow, r0)
	}
	return nil
}
