package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/tensor"
)

// weight is one frozen matrix W (N, K) on the GPU in its file's type: f32
// as it is, Q8_0 and Q4_0 repacked into the aligned layout of
// tensor.Packed, every other type as the file's blocks (ops.RawWeights).
// Exactly one of f32, quant and raw is set.
type weight struct {
	Name  string
	Type  tensor.Type
	N, K  int
	f32   *gpu.Buffer
	quant *ops.QuantWeights
	raw   *ops.RawWeights
}

// bytes is the GPU memory the weight holds.
func (w *weight) bytes() uint64 {
	switch {
	case w.f32 != nil:
		return w.f32.Size
	case w.quant != nil:
		return w.quant.Quants.Size + w.quant.Scales.Size
	default:
		return w.raw.Buf.Size
	}
}

func (w *weight) free() {
	switch {
	case w.f32 != nil:
		w.f32.Free()
	case w.quant != nil:
		w.quant.Free()
	case w.raw != nil:
		w.raw.Free()
	}
}

// isPacked reports whether weights of type t use the packed Q8_0/Q4_0 kernels.
func isPacked(t tensor.Type) bool { return t == tensor.Q8_0 || t == tensor.Q4_0 }

// runnable reports whether the GPU engine has kernels for matrices of type t.
func runnable(t tensor.Type) bool {
	if t == tensor.F32 || isPacked(t) {
		return true
	}
	for _, r := range ops.RawTypes() {
		if r == t {
			return true
		}
	}
	return false
}

// allocator makes the GPU buffer of a tensor's rows [row0, row0+rows) of
// size bytes: a buffer of its own, or a view of a flat parameter buffer
// (full-parameter training).
type allocator func(label, name string, row0 int, size uint64) (*gpu.Buffer, error)

// ownBuffer is the allocator of frozen models: a buffer per tensor.
func ownBuffer(d *gpu.Device) allocator {
	return func(label, _ string, _ int, size uint64) (*gpu.Buffer, error) { return d.NewBuffer(label, size) }
}

// uploadWeight uploads rows [row0, row0+N) of the named (rows, K) tensor.
func uploadWeight(d *gpu.Device, alloc allocator, m *Model, name string, row0, N, K int) (*weight, error) {
	raw, t, err := m.ReadRaw(name, row0, N)
	if err != nil {
		return nil, err
	}
	if !runnable(t) {
		return nil, fmt.Errorf("model: %s is %v; the GPU engine runs %v", name, t, runnableTypes())
	}
	w := &weight{Name: name, Type: t, N: N, K: K}
	label := fmt.Sprintf("%s[%d:%d]", name, row0, row0+N)
	switch {
	case t == tensor.F32:
		if len(raw) != 4*N*K {
			return nil, fmt.Errorf("model: %s: %d bytes for (%d, %d) f32", name, len(raw), N, K)
		}
		w.f32, err = alloc(label, name, row0, uint64(len(raw)))
		if err == nil {
			err = w.f32.Upload(0, raw)
		}
	case isPacked(t):
		w.quant, err = ops.NewQuantWeights(d, label, t, raw, N, K)
	default:
		w.raw, err = ops.NewRawWeights(d, label, t, raw, N, K)
	}
	if err != nil {
		w.free()
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	return w, nil
}

// runnableTypes lists the weight types the GPU engine decodes.
func runnableTypes() []tensor.Type {
	return append([]tensor.Type{tensor.F32, tensor.Q8_0, tensor.Q4_0}, ops.RawTypes()...)
}

// uploadVector uploads a 1-D tensor (a norm weight or a bias) as f32: these
// are a few KB, so they are not kept in the file's type.
func uploadVector(alloc allocator, m *Model, name string) (*gpu.Buffer, error) {
	v, err := m.ReadF32(name, 0, 1)
	if err != nil {
		return nil, err
	}
	b, err := alloc(name, name, 0, 4*uint64(len(v)))
	if err != nil {
		return nil, err
	}
	if err := b.UploadF32(0, v); err != nil {
		b.Free()
		return nil, err
	}
	return b, nil
}

// kernels are every pipeline a forward pass uses, built once per model
// load (a SwiftShader compile takes up to 2 s; never per step).
type kernels struct {
	d        *gpu.Device
	matmul   *ops.MatMul
	quant    map[tensor.Type]*ops.QuantMatMul
	raw      map[tensor.Type]*ops.RawMatMul
	embed    *ops.Embed
	rawEmbed map[tensor.Type]*ops.RawEmbed
	norm     *ops.Norm
	rope     *ops.Rope
	attn     *ops.Attention
	ew       *ops.Elementwise
	act      *ops.Activation
	bias     *ops.Bias
	vocab    *ops.Vocab
	// Built on first use by adapters and training (preparePEFT).
	gemm  *ops.Gemm
	scale *ops.ScaleCols
	relu  *ops.ReLU
}

// preparePEFT builds the kernels the PEFT methods add to a forward pass.
func (k *kernels) preparePEFT() error {
	var err error
	if k.gemm == nil {
		k.gemm, err = ops.NewGemm(k.d)
	}
	if err == nil && k.scale == nil {
		k.scale, err = ops.NewScaleCols(k.d)
	}
	if err == nil && k.relu == nil {
		k.relu, err = ops.NewReLU(k.d)
	}
	return err
}

func newKernels(d *gpu.Device) (*kernels, error) {
	k := &kernels{d: d, quant: map[tensor.Type]*ops.QuantMatMul{}, raw: map[tensor.Type]*ops.RawMatMul{},
		rawEmbed: map[tensor.Type]*ops.RawEmbed{}}
	var err error
	steps := []func(){
		func() { k.matmul, err = ops.NewMatMul(d, ops.BestMatMulVariant(d)) },
		func() { k.embed, err = ops.NewEmbed(d) },
		func() { k.norm, err = ops.NewNorm(d) },
		func() { k.rope, err = ops.NewRope(d) },
		func() { k.attn, err = ops.NewAttention(d) },
		func() { k.ew, err = ops.NewElementwise(d) },
		func() { k.act, err = ops.NewActivation(d) },
		func() { k.bias, err = ops.NewBias(d) },
		func() { k.vocab, err = ops.NewVocab(d) },
	}
	for _, s := range steps {
		if s(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// prepare builds the matmul (and, for the embedding, gather) kernel of
// weight type t if it is not built yet.
func (k *kernels) prepare(t tensor.Type, gather bool) error {
	var err error
	switch {
	case t == tensor.F32:
	case isPacked(t):
		if k.quant[t] == nil {
			k.quant[t], err = ops.NewQuantMatMul(k.d, t)
		}
	default:
		if k.raw[t] == nil {
			k.raw[t], err = ops.NewRawMatMul(k.d, t)
		}
		if err == nil && gather && k.rawEmbed[t] == nil {
			k.rawEmbed[t], err = ops.NewRawEmbed(k.d, t)
		}
	}
	return err
}

// linear returns y (M, N) = x (M, K) @ W^T.
func (k *kernels) linear(y, x *gpu.Buffer, w *weight, M int) (*gpu.Call, error) {
	switch {
	case w.f32 != nil:
		return k.matmul.Call(y, x, w.f32, M, w.N, w.K)
	case w.quant != nil:
		return k.quant[w.Type].Call(y, x, w.quant, M)
	default:
		return k.raw[w.Type].Call(y, x, w.raw, M)
	}
}

// gather returns out (n, K) = rows ids[0..n) of W.
func (k *kernels) gather(out *gpu.Buffer, w *weight, ids *gpu.Buffer, n int) (*gpu.Call, error) {
	switch {
	case w.f32 != nil:
		return k.embed.F32(out, w.f32, ids, n, w.N, w.K)
	case w.quant != nil:
		return k.embed.Quant(out, w.quant, ids, n)
	default:
		return k.rawEmbed[w.Type].Call(out, w.raw, ids, n)
	}
}

func (k *kernels) free() { k.attn.Free() }

// rows returns rows [r0, r0+n) of w as views into its buffers, with no
// copy. r0 must be a multiple of 256, which makes every view offset a
// multiple of 256 bytes (WebGPU's binding alignment) for every type.
func (w *weight) rows(r0, n int) (*weight, error) {
	if r0%256 != 0 || n < 1 || r0+n > w.N {
		return nil, fmt.Errorf("model: rows [%d, %d) of %s: not a 256-aligned range of its %d rows", r0, r0+n, w.Name, w.N)
	}
	v := *w
	v.N = n
	label := fmt.Sprintf("%s[%d:%d]", w.Name, r0, r0+n)
	view := func(b *gpu.Buffer, rowBytes int) (*gpu.Buffer, error) {
		off := uint64(r0) * uint64(rowBytes)
		size := min((uint64(n)*uint64(rowBytes)+3)/4*4, b.Size-off)
		return b.View(label, off, size)
	}
	var err error
	switch {
	case w.f32 != nil:
		v.f32, err = view(w.f32, 4*w.K)
	case w.quant != nil:
		q := *w.quant
		q.N = n
		words := w.K / tensor.BlockLen * w.Type.QuantWords()
		if q.Quants, err = view(w.quant.Quants, 4*words); err == nil {
			q.Scales, err = view(w.quant.Scales, w.K/tensor.BlockLen*2)
		}
		v.quant = &q
	default:
		r := *w.raw
		r.N = n
		rb, _ := w.Type.RowBytes(w.K)
		r.Buf, err = view(w.raw.Buf, rb)
		v.raw = &r
	}
	return &v, err
}

// bindingRows is how many rows of w fit one storage binding, rounded down
// to a multiple of 256 (at least 256).
func (w *weight) bindingRows(limit uint64) int {
	var rowBytes int
	switch {
	case w.f32 != nil:
		rowBytes = 4 * w.K
	case w.quant != nil:
		rowBytes = 4 * w.K / tensor.BlockLen * w.Type.QuantWords()
	default:
		rowBytes, _ = w.Type.RowBytes(w.K)
	}
	return max(256, int(limit/uint64(rowBytes))/256*256)
}
