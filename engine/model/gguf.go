package model

import (
	"fmt"

	"webpeft/engine/format/gguf"
)

// FromGGUF builds the Spec of a GGUF model from its metadata and tensor
// index. Shapes are turned from ggml order (fastest first) into PyTorch
// order; weights stay as the file stores them, so a llama file keeps its
// permuted Q/K rows and gets Rope = RopeInterleaved.
func FromGGUF(f *gguf.File) (*Spec, error) {
	archName, ok := f.String("general.architecture")
	if !ok {
		return nil, fmt.Errorf("model: GGUF has no general.architecture")
	}
	arch := Arch(archName)
	if !supported(arch) {
		return nil, fmt.Errorf("model: architecture %q is not supported (supported: %v)", archName, Archs)
	}
	m := ggufMeta{f: f, arch: archName}
	s := &Spec{
		Arch:      arch,
		Hidden:    m.int("embedding_length", 0),
		FFN:       m.int("feed_forward_length", 0),
		Layers:    m.int("block_count", 0),
		Heads:     m.int("attention.head_count", 0),
		Context:   m.int("context_length", 0),
		RopeTheta: m.float("rope.freq_base", 10000),
	}
	s.Name, _ = f.String("general.name")
	s.KVHeads = m.int("attention.head_count_kv", s.Heads)
	if s.Heads > 0 {
		s.HeadDim = m.int("attention.key_length", s.Hidden/s.Heads)
	}
	s.Vocab = m.int("vocab_size", 0)
	if s.Vocab == 0 {
		if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
			s.Vocab = len(toks)
		}
	}
	archDefaults(s, m)
	for _, t := range f.Tensors {
		s.Tensors = append(s.Tensors, Tensor{Name: t.Name, Type: t.Type.String(), Shape: pytorchShape(t.Shape), Source: t.Name})
	}
	if err := finish(s); err != nil {
		return nil, err
	}
	return s, nil
}

// archDefaults sets what follows from the architecture.
func archDefaults(s *Spec, m ggufMeta) {
	switch s.Arch {
	case Llama, Qwen2:
		s.Norm, s.Activation = RMSNorm, "silu"
		s.NormEps = m.float("attention.layer_norm_rms_epsilon", 1e-5)
		s.Rope = RopeInterleaved
		if s.Arch == Qwen2 {
			s.Rope = RopeHalf
		}
	case GPT2:
		s.Norm, s.Activation, s.Rope, s.RopeTheta = LayerNorm, "gelu_tanh", RopeNone, 0
		s.NormEps = m.float("attention.layer_norm_epsilon", 1e-5)
	}
}

// finish derives what the tensor index says and validates the whole spec.
func finish(s *Spec) error {
	_, hasOutput := s.Tensor("output.weight")
	s.TiedEmbeddings = !hasOutput
	_, s.QKVBias = s.Tensor("blk.0.attn_q.bias")
	if emb, ok := s.Tensor("token_embd.weight"); ok && len(emb.Shape) == 2 {
		if s.Vocab == 0 {
			s.Vocab = emb.Shape[0]
		}
		if emb.Shape[0] != s.Vocab || emb.Shape[1] != s.Hidden {
			return fmt.Errorf("model: token_embd.weight is %v, want (%d, %d) from vocab and hidden size", emb.Shape, s.Vocab, s.Hidden)
		}
	} else {
		return fmt.Errorf("model: no 2-D token_embd.weight tensor")
	}
	return s.Validate()
}

func supported(a Arch) bool {
	for _, x := range Archs {
		if a == x {
			return true
		}
	}
	return false
}

// pytorchShape reverses a ggml shape.
func pytorchShape(ggml []uint64) []int {
	out := make([]int, len(ggml))
	for i, d := range ggml {
		out[len(ggml)-1-i] = int(d)
	}
	return out
}

// ggufMeta reads "<arch>.<key>" metadata with defaults.
type ggufMeta struct {
	f    *gguf.File
	arch string
}

func (m ggufMeta) int(key string, def int) int {
	if v, ok := m.f.Int(m.arch + "." + key); ok {
		return int(v)
	}
	return def
}

func (m ggufMeta) float(key string, def float64) float64 {
	if v, ok := m.f.Float(m.arch + "." + key); ok {
		return v
	}
	return def
}
