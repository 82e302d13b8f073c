package model

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"webpeft/engine/tensor"
)

// RandomConfig describes a model with seeded random weights: the tiny
// models of the tests and the model-shaped benchmarks. No download, no
// file: the project's own GGUF writer makes it.
type RandomConfig struct {
	Arch                                                Arch
	Vocab, Hidden, FFN, Layers, Heads, KVHeads, Context int
	Tied                                                bool // LM head is the token embedding
	Type                                                tensor.Type
	Seed                                                uint64
}

// Spec returns the hyper-parameters and tensor index of c, as FromGGUF
// would read them.
func (c RandomConfig) Spec() *Spec {
	s := &Spec{Arch: c.Arch, Name: fmt.Sprintf("random-%s-%d", c.Arch, c.Seed), Vocab: c.Vocab,
		Hidden: c.Hidden, FFN: c.FFN, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		HeadDim: c.Hidden / c.Heads, Context: c.Context, NormEps: 1e-5, TiedEmbeddings: c.Tied}
	switch c.Arch {
	case GPT2:
		s.Norm, s.Activation = LayerNorm, "gelu_tanh"
	default:
		s.Norm, s.Activation, s.Rope, s.RopeTheta = RMSNorm, "silu", RopeInterleaved, 10000
		if c.Arch == Qwen2 {
			s.Rope, s.RopeTheta, s.QKVBias = RopeHalf, 1e6, true
		}
	}
	C, Q, KV, F := c.Hidden, c.Hidden, s.KVHeads*s.HeadDim, c.FFN
	add := func(name string, shape ...int) {
		s.Tensors = append(s.Tensors, Tensor{Name: name, Type: "F32", Shape: shape, Source: name})
	}
	add("token_embd.weight", c.Vocab, C)
	if c.Arch == GPT2 {
		add("position_embd.weight", c.Context, C)
	}
	for l := 0; l < c.Layers; l++ {
		blk := func(n string) string { return fmt.Sprintf("blk.%d.%s", l, n) }
		add(blk("attn_norm.weight"), C)
		if c.Arch == GPT2 {
			add(blk("attn_norm.bias"), C)
			add(blk("attn_qkv.weight"), Q+2*KV, C)
			add(blk("attn_qkv.bias"), Q+2*KV)
			add(blk("attn_output.weight"), C, Q)
			add(blk("attn_output.bias"), C)
			add(blk("ffn_norm.weight"), C)
			add(blk("ffn_norm.bias"), C)
			add(blk("ffn_up.weight"), F, C)
			add(blk("ffn_up.bias"), F)
			add(blk("ffn_down.weight"), C, F)
			add(blk("ffn_down.bias"), C)
			continue
		}
		add(blk("attn_q.weight"), Q, C)
		add(blk("attn_k.weight"), KV, C)
		add(blk("attn_v.weight"), KV, C)
		if c.Arch == Qwen2 {
			add(blk("attn_q.bias"), Q)
			add(blk("attn_k.bias"), KV)
			add(blk("attn_v.bias"), KV)
		}
		add(blk("attn_output.weight"), C, Q)
		add(blk("ffn_norm.weight"), C)
		add(blk("ffn_gate.weight"), F, C)
		add(blk("ffn_up.weight"), F, C)
		add(blk("ffn_down.weight"), C, F)
	}
	add("output_norm.weight", C)
	if c.Arch == GPT2 {
		add("output_norm.bias", C)
	}
	if !c.Tied {
		add("output.weight", c.Vocab, C)
	}
	return s
}

// randomValues returns the seeded values of rows [row0, row0+rows) of t:
// norm weights near 1, biases and embeddings of moderate size, matrices
// uniform in +-1/sqrt(in) so that activations stay O(1) through the
// layers. Each row has its own generator, so any row range reads the
// same values.
func randomValues(seed uint64, t *Tensor, row0, rows int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(t.Name))
	cols := t.RowLen()
	out := make([]float32, rows*cols)
	scale, offset := float32(1/math.Sqrt(float64(cols))), float32(0)
	switch {
	case len(t.Shape) < 2 && strings.Contains(t.Name, "norm.weight"):
		scale, offset = 0.2, 1
	case len(t.Shape) < 2:
		scale = 0.1
	case strings.Contains(t.Name, "embd"):
		scale = 0.25
	}
	for r := 0; r < rows; r++ {
		g := rand.New(rand.NewPCG(seed^h.Sum64(), uint64(row0+r)))
		for i := range cols {
			out[r*cols+i] = offset + scale*(2*g.Float32()-1)
		}
	}
	return out
}

// RandomModel writes c as a GGUF file in memory (matrices in c.Type, rows
// that are not whole blocks of it in F16, vectors in F32) and opens it,
// so it goes through the same loading path as a downloaded model.
func RandomModel(c RandomConfig) (*Model, []byte, error) {
	s := c.Spec()
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	src := &Model{Spec: s, read: func(t *Tensor, row0, rows int) ([]float32, error) {
		return randomValues(c.Seed, t, row0, rows), nil
	}}
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, src, c.Type); err != nil {
		return nil, nil, err
	}
	b := buf.Bytes()
	m, err := OpenGGUF(bytes.NewReader(b), int64(len(b)))
	return m, b, err
}
