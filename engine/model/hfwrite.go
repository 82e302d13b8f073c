package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"webpeft/engine/format/safetensors"
	"webpeft/engine/tokenizer"
)

// WriteHF writes m as a Hugging Face folder in dir: config.json,
// model.safetensors (F32), and tokenizer.json / tokenizer_config.json when
// m has a vocabulary. Names and layouts are transformers': llama Q/K rows
// un-permuted to half-rotation RoPE, GPT-2's Conv1D weights transposed to
// (in, out). The tensors are held in memory while the file is written, so
// this suits small models (tests, merged adapters of small bases).
func WriteHF(dir string, m *Model) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(hfConfig(m), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return err
	}
	if err := writeHFTensors(filepath.Join(dir, "model.safetensors"), m); err != nil {
		return err
	}
	if m.Vocab == nil {
		return nil
	}
	tj, err := tokenizer.ToTokenizerJSON(*m.Vocab)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return err
	}
	tc, err := tokenizer.ToTokenizerConfigJSON(*m.Vocab, m.ChatTemplate)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tc, 0o644)
}

// hfConfig is config.json for m's architecture.
func hfConfig(m *Model) map[string]any {
	s := m.Spec
	c := map[string]any{"vocab_size": s.Vocab, "tie_word_embeddings": s.TiedEmbeddings, "torch_dtype": "float32"}
	if m.Vocab != nil {
		if m.Vocab.BOS >= 0 {
			c["bos_token_id"] = m.Vocab.BOS
		}
		if m.Vocab.EOS >= 0 {
			c["eos_token_id"] = m.Vocab.EOS
		}
	}
	if s.Arch == GPT2 {
		c["architectures"], c["model_type"] = []string{"GPT2LMHeadModel"}, "gpt2"
		c["n_embd"], c["n_layer"], c["n_head"], c["n_inner"] = s.Hidden, s.Layers, s.Heads, s.FFN
		c["n_positions"], c["layer_norm_epsilon"], c["activation_function"] = s.Context, s.NormEps, "gelu_new"
		return c
	}
	c["architectures"], c["model_type"] = []string{"LlamaForCausalLM"}, "llama"
	if s.Arch == Qwen2 {
		c["architectures"], c["model_type"] = []string{"Qwen2ForCausalLM"}, "qwen2"
	}
	c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"] = s.Hidden, s.FFN, s.Layers
	c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"] = s.Heads, s.KVHeads, s.HeadDim
	c["max_position_embeddings"], c["rope_theta"], c["rms_norm_eps"] = s.Context, s.RopeTheta, s.NormEps
	c["hidden_act"] = "silu"
	return c
}

// writeHFTensors writes every tensor as F32 under its transformers name.
func writeHFTensors(path string, m *Model) error {
	unpermute := m.Spec.Arch == Llama && m.Spec.Rope == RopeInterleaved
	var out []safetensors.WriteTensor
	for i := range m.Spec.Tensors {
		t := &m.Spec.Tensors[i]
		name, transposed, err := HFName(m.Spec.Arch, t.Name)
		if err != nil {
			return err
		}
		x, err := m.read(t, 0, t.Rows())
		if err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		shape := int64s(t.Shape)
		if unpermute && (strings.HasSuffix(t.Name, ".attn_q.weight") || strings.HasSuffix(t.Name, ".attn_k.weight")) {
			heads := m.Spec.Heads
			if strings.HasSuffix(t.Name, ".attn_k.weight") {
				heads = m.Spec.KVHeads
			}
			if x, err = unpermuteF32(x, heads, t.RowLen()); err != nil {
				return err
			}
		}
		if transposed {
			x = transpose(x, t.Rows(), t.RowLen())
			shape[0], shape[1] = shape[1], shape[0]
		}
		data, err := safetensors.EncodeF32(safetensors.F32, x)
		if err != nil {
			return err
		}
		out = append(out, safetensors.WriteTensor{Name: name, DType: safetensors.F32, Shape: shape, Data: data})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := safetensors.Write(f, out, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func unpermuteF32(x []float32, heads, rowLen int) ([]float32, error) {
	raw, err := safetensors.EncodeF32(safetensors.F32, x)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(raw))
	if err := UnpermuteQK(out, raw, heads, 4*rowLen); err != nil {
		return nil, err
	}
	res := make([]float32, len(x))
	return res, safetensors.DecodeF32(safetensors.F32, res, out)
}

// transpose returns the (cols, rows) transpose of x (rows, cols).
func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = x[r*cols+c]
		}
	}
	return out
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, d := range v {
		out[i] = int64(d)
	}
	return out
}
