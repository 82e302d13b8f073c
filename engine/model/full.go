package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
)

// FullSet lays out every tensor of a model, for full-parameter training
// (pre-training the embedded default model): a peft.Set whose one method
// is peft.Full and whose tensors are the model's, by canonical name, in
// nn.Linear layout. The Trainer then trains the base weights themselves
// with the same kernels, plus weight gradients. Only F32 llama models
// are supported: the default model is one, and its weights must be
// exact to train.
func FullSet(s *Spec) (*peft.Set, error) {
	if s.Arch != Llama {
		return nil, fmt.Errorf("model: full-parameter training supports llama models, not %s", s.Arch)
	}
	set := &peft.Set{Dims: PEFTDims(s), Configs: []peft.Config{{Method: peft.Full}}}
	for _, t := range s.Tensors {
		if t.Type != "F32" {
			return nil, fmt.Errorf("model: full-parameter training needs F32 weights; %s is %s", t.Name, t.Type)
		}
		n := t.Rows() * t.RowLen()
		set.Tensors = append(set.Tensors, peft.Tensor{Name: t.Name, Shape: append([]int(nil), t.Shape...), Off: set.Size, Len: n})
		set.Size += (n + peft.Align - 1) / peft.Align * peft.Align
	}
	return set, nil
}

// fullParams is the flat buffer of a model loaded for full-parameter
// training: every tensor's rows are views of it.
type fullParams struct {
	set *peft.Set
	buf *gpu.Buffer
}

func newFullParams(d *gpu.Device, s *Spec, set *peft.Set) (*fullParams, error) {
	want, err := FullSet(s)
	if err != nil {
		return nil, err
	}
	if want.Size != set.Size || len(want.Tensors) != len(set.Tensors) {
		return nil, fmt.Errorf("model: the full-parameter layout was made for another model")
	}
	buf, err := d.NewBuffer("full.params", 4*uint64(set.Size))
	if err != nil {
		return nil, err
	}
	return &fullParams{set: set, buf: buf}, nil
}

// alloc is the loader's allocator: rows [row0, ...) of the named tensor
// as a view of the flat buffer.
func (f *fullParams) alloc(label, name string, row0 int, size uint64) (*gpu.Buffer, error) {
	t, ok := f.set.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("model: %s is not in the full-parameter layout", name)
	}
	rowLen := t.Shape[len(t.Shape)-1]
	off := uint64(t.Off+row0*rowLen) * 4
	return f.buf.View(label, off, size)
}

func (f *fullParams) free() {
	if f != nil {
		f.buf.Free()
	}
}

// FullParams is the flat parameter buffer of a model loaded with
// LoadOptions.Full, nil otherwise.
func (g *GPU) FullParams() *gpu.Buffer {
	if g.full == nil {
		return nil
	}
	return g.full.buf
}

// useFullParams makes the reference's weights the set's parameters (and
// their gradients), for full-parameter training.
func (p *peftRun) useFullParams() {
	p.wte, p.outNorm = p.param("token_embd.weight"), p.param("output_norm.weight")
	p.out = p.wte
	if w := p.param("output.weight"); w != nil {
		p.out = w
	}
	for l := range p.layers {
		w := &p.layers[l]
		blk := func(n string) *node { return p.param(fmt.Sprintf("blk.%d.%s.weight", l, n)) }
		w.attnNorm, w.q, w.k, w.v, w.attnOut = blk("attn_norm"), blk("attn_q"), blk("attn_k"), blk("attn_v"), blk("attn_output")
		w.ffnNorm, w.gate, w.up, w.down = blk("ffn_norm"), blk("ffn_gate"), blk("ffn_up"), blk("ffn_down")
	}
}

// FullParamsOf reads m's weights into set's flat layout (FullSet).
func FullParamsOf(m *Model, set *peft.Set) ([]float32, error) {
	params := make([]float32, set.Size)
	for _, t := range set.Tensors {
		rows := 1
		if len(t.Shape) > 1 {
			rows = t.Shape[0]
		}
		v, err := m.ReadF32(t.Name, 0, rows)
		if err != nil {
			return nil, err
		}
		if len(v) != t.Len {
			return nil, fmt.Errorf("model: %s holds %d values, the layout %d", t.Name, len(v), t.Len)
		}
		copy(params[t.Off:], v)
	}
	return params, nil
}

// FullModel is m with its weights replaced by params (set's flat layout,
// FullSet), to write with WriteGGUF once trained. It keeps m's spec and
// tokenizer and reads nothing from m's files.
func FullModel(m *Model, set *peft.Set, params []float32) (*Model, error) {
	if len(params) != set.Size {
		return nil, fmt.Errorf("model: %d parameters for a layout of %d", len(params), set.Size)
	}
	out := *m
	out.closer = nil
	out.read = func(t *Tensor, rowStart, rows int) ([]float32, error) {
		x, ok := set.Tensor(t.Name)
		if !ok {
			return nil, fmt.Errorf("model: %s is not in the full-parameter layout", t.Name)
		}
		rowLen := x.Shape[len(x.Shape)-1]
		if rowStart < 0 || (rowStart+rows)*rowLen > x.Len {
			return nil, fmt.Errorf("model: rows [%d, %d) of %s are out of range", rowStart, rowStart+rows, t.Name)
		}
		return append([]float32(nil), params[x.Off+rowStart*rowLen:x.Off+(rowStart+rows)*rowLen]...), nil
	}
	out.readRaw = func(t *Tensor, rowStart, rows int) ([]byte, error) {
		x, err := out.read(t, rowStart, rows)
		if err != nil {
			return nil, err
		}
		return gpu.F32Bytes(x), nil
	}
	return &out, nil
}
