package model

import (
	"fmt"
	"strings"

	"webpeft/engine/format/hf"
	"webpeft/engine/format/safetensors"
)

// FromHF builds the Spec of a Hugging Face checkpoint: config.json parsed
// by package hf, tensors indexed by package safetensors. Names become
// canonical (see FromHFName); GPT-2's Conv1D weights, stored (in, out), are
// listed in nn.Linear shape with Transposed set. Llama and qwen2 use
// half-rotation RoPE on unpermuted Q/K rows.
func FromHF(c *hf.Config, ck *safetensors.Checkpoint) (*Spec, error) {
	if c.Architecture != string(GPT2) && (c.AttentionOutBias || c.MLPBias) {
		return nil, fmt.Errorf("model: %s with attention_bias or mlp_bias (biases on o_proj or the MLP) is not supported", c.HFArchitecture)
	}
	s := &Spec{
		Arch:      Arch(c.Architecture),
		Vocab:     c.VocabSize,
		Hidden:    c.HiddenSize,
		FFN:       c.IntermediateSize,
		Layers:    c.Layers,
		Heads:     c.Heads,
		KVHeads:   c.KVHeads,
		HeadDim:   c.HeadDim,
		Context:   c.MaxPositions,
		RopeTheta: c.RopeTheta,
		Rope:      RopeHalf,
		Norm:      RMSNorm,
		NormEps:   c.RMSNormEps,
	}
	if r := c.RopeScaling; r != nil {
		s.RopeScaling = &RopeScaling{Factor: r.Factor, LowFreqFactor: r.LowFreqFactor,
			HighFreqFactor: r.HighFreqFactor, OriginalContext: r.OriginalMaxPositions}
	}
	s.Activation = "silu"
	if s.Arch == GPT2 {
		s.Rope, s.Norm, s.NormEps, s.Activation = RopeNone, LayerNorm, c.LayerNormEps, "gelu_tanh"
	}
	for _, name := range ck.Names() {
		canon, transposed, ok := FromHFName(s.Arch, name)
		if !ok {
			if ignorableHF(name) {
				continue
			}
			return nil, fmt.Errorf("model: %s checkpoint has an unexpected tensor %q", s.Arch, name)
		}
		_, t, err := ck.Tensor(name)
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int(d)
		}
		if transposed && len(shape) == 2 {
			shape[0], shape[1] = shape[1], shape[0]
		}
		s.Tensors = append(s.Tensors, Tensor{Name: canon, Type: string(t.DType), Shape: shape, Source: name, Transposed: transposed})
	}
	sortCanonical(s)
	if err := finish(s); err != nil {
		return nil, err
	}
	if s.TiedEmbeddings != c.TieEmbeddings && !c.TieEmbeddings {
		return nil, fmt.Errorf("model: config.json says the LM head is separate, but the checkpoint has no lm_head.weight")
	}
	return s, nil
}

// ignorableHF reports tensors that are buffers, not weights: GPT-2's causal
// masks and old checkpoints' rotary inverse frequencies.
func ignorableHF(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") ||
		strings.HasSuffix(name, "rotary_emb.inv_freq")
}
