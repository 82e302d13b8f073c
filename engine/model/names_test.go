package model

import "testing"

func TestHFNames(t *testing.T) {
	cases := []struct {
		arch       Arch
		hf, canon  string
		transposed bool
	}{
		{Llama, "model.layers.12.self_attn.q_proj.weight", "blk.12.attn_q.weight", false},
		{Llama, "lm_head.weight", "output.weight", false},
		{Qwen2, "model.layers.0.self_attn.k_proj.bias", "blk.0.attn_k.bias", false},
		{GPT2, "transformer.h.3.attn.c_attn.weight", "blk.3.attn_qkv.weight", true},
		{GPT2, "h.3.mlp.c_proj.weight", "blk.3.ffn_down.weight", true},
	}
	for _, c := range cases {
		canon, tr, ok := FromHFName(c.arch, c.hf)
		if !ok || canon != c.canon || tr != c.transposed {
			t.Errorf("FromHFName(%s, %q) = %q, %v, %v; want %q, %v", c.arch, c.hf, canon, tr, ok, c.canon, c.transposed)
		}
		hf, _, err := HFName(c.arch, c.canon)
		if err != nil || (hf != c.hf && "transformer."+c.hf != hf) {
			t.Errorf("HFName(%s, %q) = %q, %v", c.arch, c.canon, hf, err)
		}
	}
	if _, _, ok := FromHFName(GPT2, "transformer.h.0.attn.bias"); ok {
		t.Error("GPT-2's causal-mask buffer was taken for a weight")
	}
	if _, _, ok := FromHFName(Llama, "model.layers.0.self_attn.q_proj.bias"); ok {
		t.Error("llama has no q bias, but one was mapped")
	}
}
