package model

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// hfName pairs a canonical (GGUF) tensor name with the Hugging Face one.
// In per-layer names "#" stands for the layer number.
type hfName struct {
	canonical, hf string
	transposed    bool // HF stores it (in, out): GPT-2's Conv1D
}

// hfNames are the tensor names of each architecture's HF checkpoints
// (transformers' LlamaForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel).
var hfNames = map[Arch][]hfName{
	Llama: llamaNames(false),
	Qwen2: llamaNames(true),
	GPT2: {
		{"token_embd.weight", "transformer.wte.weight", false},
		{"position_embd.weight", "transformer.wpe.weight", false},
		{"blk.#.attn_norm.weight", "transformer.h.#.ln_1.weight", false},
		{"blk.#.attn_norm.bias", "transformer.h.#.ln_1.bias", false},
		{"blk.#.attn_qkv.weight", "transformer.h.#.attn.c_attn.weight", true},
		{"blk.#.attn_qkv.bias", "transformer.h.#.attn.c_attn.bias", false},
		{"blk.#.attn_output.weight", "transformer.h.#.attn.c_proj.weight", true},
		{"blk.#.attn_output.bias", "transformer.h.#.attn.c_proj.bias", false},
		{"blk.#.ffn_norm.weight", "transformer.h.#.ln_2.weight", false},
		{"blk.#.ffn_norm.bias", "transformer.h.#.ln_2.bias", false},
		{"blk.#.ffn_up.weight", "transformer.h.#.mlp.c_fc.weight", true},
		{"blk.#.ffn_up.bias", "transformer.h.#.mlp.c_fc.bias", false},
		{"blk.#.ffn_down.weight", "transformer.h.#.mlp.c_proj.weight", true},
		{"blk.#.ffn_down.bias", "transformer.h.#.mlp.c_proj.bias", false},
		{"output_norm.weight", "transformer.ln_f.weight", false},
		{"output_norm.bias", "transformer.ln_f.bias", false},
		{"output.weight", "lm_head.weight", false},
	},
}

func llamaNames(qkvBias bool) []hfName {
	names := []hfName{
		{"token_embd.weight", "model.embed_tokens.weight", false},
		{"blk.#.attn_norm.weight", "model.layers.#.input_layernorm.weight", false},
		{"blk.#.attn_q.weight", "model.layers.#.self_attn.q_proj.weight", false},
		{"blk.#.attn_k.weight", "model.layers.#.self_attn.k_proj.weight", false},
		{"blk.#.attn_v.weight", "model.layers.#.self_attn.v_proj.weight", false},
		{"blk.#.attn_output.weight", "model.layers.#.self_attn.o_proj.weight", false},
		{"blk.#.ffn_norm.weight", "model.layers.#.post_attention_layernorm.weight", false},
		{"blk.#.ffn_gate.weight", "model.layers.#.mlp.gate_proj.weight", false},
		{"blk.#.ffn_up.weight", "model.layers.#.mlp.up_proj.weight", false},
		{"blk.#.ffn_down.weight", "model.layers.#.mlp.down_proj.weight", false},
		{"output_norm.weight", "model.norm.weight", false},
		{"output.weight", "lm_head.weight", false},
	}
	if qkvBias {
		names = append(names,
			hfName{"blk.#.attn_q.bias", "model.layers.#.self_attn.q_proj.bias", false},
			hfName{"blk.#.attn_k.bias", "model.layers.#.self_attn.k_proj.bias", false},
			hfName{"blk.#.attn_v.bias", "model.layers.#.self_attn.v_proj.bias", false})
	}
	return names
}

// FromHFName maps a Hugging Face tensor name to its canonical name. GPT-2
// checkpoints saved from GPT2Model lack the "transformer." prefix; both
// forms are accepted. ok is false for names that are not weights (e.g.
// GPT-2's attn.bias causal-mask buffers) or unknown.
func FromHFName(arch Arch, name string) (canonical string, transposed, ok bool) {
	layer, pattern := splitLayer(name)
	for _, n := range hfNames[arch] {
		for _, hf := range []string{n.hf, strings.TrimPrefix(n.hf, "transformer.")} {
			if hf == pattern {
				return strings.Replace(n.canonical, "#", layer, 1), n.transposed, true
			}
		}
	}
	return "", false, false
}

// HFName maps a canonical tensor name to the Hugging Face one.
func HFName(arch Arch, canonical string) (name string, transposed bool, err error) {
	layer, pattern := splitLayer(canonical)
	for _, n := range hfNames[arch] {
		if n.canonical == pattern {
			return strings.Replace(n.hf, "#", layer, 1), n.transposed, nil
		}
	}
	return "", false, fmt.Errorf("model: %s has no tensor %q", arch, canonical)
}

// splitLayer replaces the first all-digit dotted component of name with
// "#" and returns it.
func splitLayer(name string) (layer, pattern string) {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil {
			parts[i] = "#"
			return p, strings.Join(parts, ".")
		}
	}
	return "", name
}

// LayerTensors lists the canonical per-layer tensor names of arch for layer
// l, in GGUF's usual order.
func LayerTensors(arch Arch, l int) []string {
	var out []string
	for _, n := range hfNames[arch] {
		if strings.Contains(n.canonical, "#") {
			out = append(out, strings.Replace(n.canonical, "#", strconv.Itoa(l), 1))
		}
	}
	return out
}

// sortCanonical orders s.Tensors as GGUF files do: embeddings, then layer
// by layer, then the final norm and the LM head.
func sortCanonical(s *Spec) {
	rank := func(name string) (int, int, int) {
		layer, pattern := splitLayer(name)
		for i, n := range hfNames[s.Arch] {
			if n.canonical != pattern {
				continue
			}
			if layer == "" {
				if strings.HasPrefix(name, "output") {
					return 2, 0, i
				}
				return 0, 0, i
			}
			l, _ := strconv.Atoi(layer)
			return 1, l, i
		}
		return 3, 0, 0
	}
	slices.SortStableFunc(s.Tensors, func(a, b Tensor) int {
		ga, la, ia := rank(a.Name)
		gb, lb, ib := rank(b.Name)
		return cmp.Or(cmp.Compare(ga, gb), cmp.Compare(la, lb), cmp.Compare(ia, ib))
	})
}
