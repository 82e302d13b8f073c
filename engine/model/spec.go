// Package model describes transformer language models (llama, qwen2, gpt2)
// independently of the file they came from: a Spec with the
// hyper-parameters and a tensor index in one canonical naming (GGUF's:
// token_embd.weight, blk.N.attn_q.weight, ...), each tensor in nn.Linear
// layout (rows = outputs, row-major).
package model

import (
	"errors"
	"fmt"
)

// Arch is a supported architecture, named as GGUF's general.architecture.
type Arch string

const (
	Llama Arch = "llama" // also SmolLM/SmolLM2, TinyLlama, Llama 2/3.x, Mistral
	Qwen2 Arch = "qwen2" // llama with Q/K/V biases
	GPT2  Arch = "gpt2"  // LayerNorm, GELU, learned positions, fused QKV
)

// Archs lists the supported architectures.
var Archs = []Arch{Llama, Qwen2, GPT2}

// RopeStyle says how rotary position embeddings pair the dimensions of a
// head.
type RopeStyle int

const (
	// RopeNone: no rotary embedding (gpt2 uses learned positions).
	RopeNone RopeStyle = iota
	// RopeInterleaved rotates pairs (2i, 2i+1): llama.cpp's "normal" rope,
	// used by GGUF llama files whose Q/K rows are permuted for it
	// (see PermuteQK).
	RopeInterleaved
	// RopeHalf rotates pairs (i, i+HS/2) (GPT-NeoX style): Hugging Face
	// checkpoints, and qwen2 in GGUF, on unpermuted weights.
	RopeHalf
)

func (r RopeStyle) String() string {
	return [...]string{"none", "interleaved", "half"}[r]
}

// Norm is the normalization a model uses.
type Norm int

const (
	RMSNorm Norm = iota
	LayerNorm
)

func (n Norm) String() string { return [...]string{"rmsnorm", "layernorm"}[n] }

// Spec is everything the engine needs to know about a model.
type Spec struct {
	Arch    Arch
	Name    string
	Vocab   int // V
	Hidden  int // C
	FFN     int // feed-forward width
	Layers  int // L
	Heads   int // NH
	KVHeads int // grouped-query attention: NH is a multiple of KVHeads
	HeadDim int // HS
	Context int // maximum positions

	Rope        RopeStyle
	RopeTheta   float64
	RopeScaling *RopeScaling // nil: none
	Norm        Norm
	NormEps     float64
	Activation  string // "silu" (gated) or "gelu_tanh"

	TiedEmbeddings bool // no output.weight: the LM head is token_embd
	QKVBias        bool // qwen2

	Tensors []Tensor // canonical names, sorted as the source lists them
}

// RopeScaling is Llama 3's frequency scaling ("rope_type": "llama3").
type RopeScaling struct {
	Factor, LowFreqFactor, HighFreqFactor float64
	OriginalContext                       int
}

// Validate checks that the hyper-parameters are consistent.
func (s *Spec) Validate() error {
	pos := map[string]int{"vocab": s.Vocab, "hidden": s.Hidden, "ffn": s.FFN, "layers": s.Layers,
		"heads": s.Heads, "kv heads": s.KVHeads, "head dim": s.HeadDim}
	for _, k := range []string{"vocab", "hidden", "ffn", "layers", "heads", "kv heads", "head dim"} {
		if pos[k] <= 0 {
			return fmt.Errorf("model: %s is %d; it must be positive", k, pos[k])
		}
	}
	switch s.Arch {
	case Llama, Qwen2, GPT2:
	default:
		return fmt.Errorf("model: architecture %q is not supported (supported: %v)", s.Arch, Archs)
	}
	if s.Heads%s.KVHeads != 0 {
		return fmt.Errorf("model: %d heads are not a multiple of %d KV heads", s.Heads, s.KVHeads)
	}
	if s.Rope != RopeNone && s.HeadDim%2 != 0 {
		return fmt.Errorf("model: rotary embeddings need an even head dim, got %d", s.HeadDim)
	}
	if s.NormEps <= 0 {
		return errors.New("model: norm epsilon must be positive")
	}
	return nil
}

// Tensor is one entry of the tensor index.
type Tensor struct {
	Name  string // canonical, e.g. "blk.0.attn_q.weight"
	Type  string // element type as GGUF names it: "F32", "Q8_0", "Q6_K", ...
	Shape []int  // PyTorch order, slowest first: (out, in) for a matrix

	Source     string // the source's own name for it
	Transposed bool   // stored (in, out) in the source (GPT-2's HF Conv1D)
}

// Tensor returns the index entry named name.
func (s *Spec) Tensor(name string) (*Tensor, bool) {
	for i := range s.Tensors {
		if s.Tensors[i].Name == name {
			return &s.Tensors[i], true
		}
	}
	return nil, false
}
