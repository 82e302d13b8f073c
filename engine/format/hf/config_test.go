package hf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigFiles(t *testing.T) {
	tests := []struct {
		dir  string
		want Config
	}{
		{"smollm2-135m-instruct", Config{
			Architecture: "llama", HFArchitecture: "LlamaForCausalLM", ModelType: "llama",
			VocabSize: 49152, HiddenSize: 576, IntermediateSize: 1536, Layers: 30, Heads: 9, KVHeads: 3, HeadDim: 64,
			MaxPositions: 8192, RopeTheta: 100000, RMSNormEps: 1e-5, TieEmbeddings: true, HiddenAct: "silu",
			BOS: 1, EOS: []int{2}, PAD: 2, TorchDType: "bfloat16",
		}},
		{"qwen2.5-0.5b-instruct", Config{
			Architecture: "qwen2", HFArchitecture: "Qwen2ForCausalLM", ModelType: "qwen2",
			VocabSize: 151936, HiddenSize: 896, IntermediateSize: 4864, Layers: 24, Heads: 14, KVHeads: 2, HeadDim: 64,
			MaxPositions: 32768, RopeTheta: 1e6, RMSNormEps: 1e-6, TieEmbeddings: true, AttentionBias: true, HiddenAct: "silu",
			BOS: 151643, EOS: []int{151645}, PAD: -1, TorchDType: "bfloat16",
		}},
		{"gpt2", Config{
			Architecture: "gpt2", HFArchitecture: "GPT2LMHeadModel", ModelType: "gpt2",
			VocabSize: 50257, HiddenSize: 768, IntermediateSize: 3072, Layers: 12, Heads: 12, KVHeads: 12, HeadDim: 64,
			MaxPositions: 1024, LayerNormEps: 1e-5, TieEmbeddings: true, AttentionBias: true, AttentionOutBias: true, MLPBias: true,
			HiddenAct: "gelu_new", BOS: 50256, EOS: []int{50256}, PAD: -1,
		}},
		{"tinyllama-1.1b-chat", Config{
			Architecture: "llama", HFArchitecture: "LlamaForCausalLM", ModelType: "llama",
			VocabSize: 32000, HiddenSize: 2048, IntermediateSize: 5632, Layers: 22, Heads: 32, KVHeads: 4, HeadDim: 64,
			MaxPositions: 2048, RopeTheta: 10000, RMSNormEps: 1e-5, HiddenAct: "silu",
			BOS: 1, EOS: []int{2}, PAD: -1, TorchDType: "bfloat16",
		}},
		{"llama-3.2-1b-instruct", Config{
			Architecture: "llama", HFArchitecture: "LlamaForCausalLM", ModelType: "llama",
			VocabSize: 128256, HiddenSize: 2048, IntermediateSize: 8192, Layers: 16, Heads: 32, KVHeads: 8, HeadDim: 64,
			MaxPositions: 131072, RopeTheta: 500000, RMSNormEps: 1e-5, TieEmbeddings: true, HiddenAct: "silu",
			BOS: 128000, EOS: []int{128001, 128008, 128009}, PAD: -1, TorchDType: "bfloat16",
			RopeScaling: &RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192},
		}},
		{"mistral-7b-v0.1", Config{
			Architecture: "llama", HFArchitecture: "MistralForCausalLM", ModelType: "mistral",
			VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 14336, Layers: 32, Heads: 32, KVHeads: 8, HeadDim: 128,
			MaxPositions: 32768, RopeTheta: 10000, RMSNormEps: 1e-5, HiddenAct: "silu", SlidingWindow: 4096,
			BOS: 1, EOS: []int{2}, PAD: -1, TorchDType: "bfloat16",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.dir, ConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*c, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *c, tc.want)
			}
		})
	}
}

func TestMaxSequence(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want int
	}{
		{Config{MaxPositions: 32768, SlidingWindow: 4096}, 4096},
		{Config{MaxPositions: 2048, SlidingWindow: 4096}, 2048},
		{Config{MaxPositions: 2048}, 2048},
	} {
		if got := tc.c.MaxSequence(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.c, got, tc.want)
		}
	}
}

// TestDefaults: missing keys take each configuration class's defaults.
func TestDefaults(t *testing.T) {
	tests := []struct {
		name, json string
		check      func(c *Config) bool
	}{
		{"llama: kv heads = heads, head dim = hidden/heads, theta 10000, no tie",
			`{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_attention_heads":4}`,
			func(c *Config) bool {
				return c.KVHeads == 4 && c.HeadDim == 16 && c.RopeTheta == 10000 && !c.TieEmbeddings &&
					c.VocabSize == 32000 && c.IntermediateSize == 11008 && c.Layers == 32 && c.MaxPositions == 2048 &&
					c.RMSNormEps == 1e-6 && c.BOS == 1 && reflect.DeepEqual(c.EOS, []int{2}) && c.HiddenAct == "silu"
			}},
		{"mistral: 8 kv heads and a 4096 window when missing",
			`{"architectures":["MistralForCausalLM"]}`,
			func(c *Config) bool { return c.KVHeads == 8 && c.SlidingWindow == 4096 && c.MaxPositions == 131072 }},
		{"mistral: null window and null kv heads",
			`{"architectures":["MistralForCausalLM"],"sliding_window":null,"num_key_value_heads":null}`,
			func(c *Config) bool { return c.KVHeads == 32 && c.SlidingWindow == 0 }},
		{"qwen2: 32 kv heads, qkv bias, no bos/eos",
			`{"architectures":["Qwen2ForCausalLM"]}`,
			func(c *Config) bool {
				return c.KVHeads == 32 && c.AttentionBias && !c.AttentionOutBias && c.BOS == -1 && c.EOS == nil &&
					c.VocabSize == 151936 && c.SlidingWindow == 0
			}},
		{"qwen2: sliding window on the layers from max_window_layers",
			`{"architectures":["Qwen2ForCausalLM"],"num_hidden_layers":4,"use_sliding_window":true,"sliding_window":256,"max_window_layers":2}`,
			func(c *Config) bool { return c.SlidingWindow == 256 && c.MaxSequence() == 256 }},
		{"qwen2: sliding window on no layer",
			`{"architectures":["Qwen2ForCausalLM"],"num_hidden_layers":4,"use_sliding_window":true,"sliding_window":256,"max_window_layers":4}`,
			func(c *Config) bool { return c.SlidingWindow == 0 }},
		{"qwen2: layer_types decide",
			`{"architectures":["Qwen2ForCausalLM"],"num_hidden_layers":2,"use_sliding_window":true,"sliding_window":64,"layer_types":["full_attention","sliding_attention"]}`,
			func(c *Config) bool { return c.SlidingWindow == 64 }},
		{"gpt2: every default",
			`{"architectures":["GPT2LMHeadModel"]}`,
			func(c *Config) bool {
				return c.HiddenSize == 768 && c.IntermediateSize == 3072 && c.Layers == 12 && c.Heads == 12 &&
					c.MaxPositions == 1024 && c.LayerNormEps == 1e-5 && c.TieEmbeddings && c.HiddenAct == "gelu_new" &&
					c.BOS == 50256 && c.RopeTheta == 0
			}},
		{"gpt2: aliases and n_inner",
			`{"model_type":"gpt2","hidden_size":128,"n_embd":64,"n_head":4,"n_inner":100,"n_layer":2,"tie_word_embeddings":false}`,
			func(c *Config) bool {
				return c.HiddenSize == 128 && c.HeadDim == 32 && c.IntermediateSize == 100 && c.Layers == 2 && !c.TieEmbeddings
			}},
		{"model_type alone picks the family", `{"model_type":"qwen2"}`,
			func(c *Config) bool { return c.Architecture == "qwen2" && c.HFArchitecture == "Qwen2ForCausalLM" }},
		{"first supported architecture wins", `{"architectures":["Foo","LlamaForCausalLM"]}`,
			func(c *Config) bool { return c.Architecture == "llama" }},
		{"llama attention_bias and mlp_bias", `{"architectures":["LlamaForCausalLM"],"attention_bias":true,"mlp_bias":true}`,
			func(c *Config) bool { return c.AttentionBias && c.AttentionOutBias && c.MLPBias }},
		{"transformers 5 rope_parameters", `{"architectures":["LlamaForCausalLM"],"rope_parameters":{"rope_type":"default","rope_theta":5e5}}`,
			func(c *Config) bool { return c.RopeTheta == 5e5 && c.RopeScaling == nil }},
		{"legacy 'type' key", `{"architectures":["LlamaForCausalLM"],"rope_scaling":{"type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`,
			func(c *Config) bool { return c.RopeScaling != nil && c.RopeScaling.Factor == 8 }},
		{"eos list, negative pad means none", `{"architectures":["LlamaForCausalLM"],"eos_token_id":[5,6],"pad_token_id":-1,"bos_token_id":null}`,
			func(c *Config) bool { return reflect.DeepEqual(c.EOS, []int{5, 6}) && c.PAD == -1 && c.BOS == 1 }},
		{"dtype key of transformers 5", `{"architectures":["LlamaForCausalLM"],"dtype":"float32"}`,
			func(c *Config) bool { return c.TorchDType == "float32" }},
	}
	for _, tc := range tests {
		c, err := ParseConfig([]byte(tc.json))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%s: got %+v", tc.name, *c)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"not JSON", `{"a":`, "config.json: unexpected end"},
		{"null", `null`, "want a JSON object"},
		{"unsupported architecture", `{"architectures":["BertModel","T5Model"]}`,
			"architectures [BertModel T5Model] are not supported (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel)"},
		{"no architecture", `{}`, `no architectures, and model_type "" is not supported`},
		{"architecture and model_type disagree", `{"architectures":["LlamaForCausalLM"],"model_type":"gpt2"}`, `model_type "gpt2" does not match`},
		{"string size", `{"architectures":["LlamaForCausalLM"],"hidden_size":"576"}`, `config.json: hidden_size: want an integer, got "576"`},
		{"fractional size", `{"architectures":["LlamaForCausalLM"],"num_hidden_layers":2.5}`, "num_hidden_layers: want an integer, got 2.5"},
		{"huge size", `{"architectures":["LlamaForCausalLM"],"vocab_size":1e300}`, "vocab_size: want an integer"},
		{"zero heads", `{"architectures":["LlamaForCausalLM"],"num_attention_heads":0}`, "attention heads is 0"},
		{"negative size", `{"architectures":["GPT2LMHeadModel"],"n_embd":-8}`, "hidden size is -8"},
		{"heads do not divide", `{"architectures":["LlamaForCausalLM"],"hidden_size":100,"num_attention_heads":3}`, "not a multiple of 3 attention heads"},
		{"kv heads do not divide", `{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_attention_heads":4,"num_key_value_heads":3}`,
			"4 attention heads are not a multiple of 3 key/value heads"},
		{"odd head dim", `{"architectures":["LlamaForCausalLM"],"hidden_size":12,"num_attention_heads":4}`, "head dim 3 is odd"},
		{"zero eps", `{"architectures":["LlamaForCausalLM"],"rms_norm_eps":0}`, "rms_norm_eps is 0"},
		{"bool as string", `{"architectures":["LlamaForCausalLM"],"tie_word_embeddings":"true"}`, "tie_word_embeddings: want true or false"},
		{"unknown rope type", `{"architectures":["LlamaForCausalLM"],"rope_scaling":{"type":"yarn","factor":4}}`,
			`config.json: rope_scaling: rope_type: "yarn" is not supported (supported: default, llama3)`},
		{"linear rope", `{"architectures":["LlamaForCausalLM"],"rope_scaling":{"rope_type":"linear","factor":2}}`, `"linear" is not supported`},
		{"llama3 missing key", `{"architectures":["LlamaForCausalLM"],"rope_scaling":{"rope_type":"llama3","factor":8}}`,
			"low_freq_factor: missing; llama3 RoPE scaling needs it"},
		{"llama3 bad factors", `{"architectures":["LlamaForCausalLM"],"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":4,"original_max_position_embeddings":8192}}`,
			"high_freq_factor 4 must be above low_freq_factor 4"},
		{"per-layer rope", `{"architectures":["LlamaForCausalLM"],"rope_parameters":{"full_attention":{"rope_type":"default"}}}`,
			"rope_parameters: full_attention: per-layer RoPE parameters are not supported"},
		{"rope not an object", `{"architectures":["LlamaForCausalLM"],"rope_scaling":[1]}`, "rope_scaling"},
		{"partial rotary", `{"architectures":["LlamaForCausalLM"],"partial_rotary_factor":0.5}`, "partial_rotary_factor"},
		{"gpt2 unscaled attention", `{"architectures":["GPT2LMHeadModel"],"scale_attn_weights":false}`, "scale_attn_weights: false is not supported"},
		{"gpt2 layer-scaled attention", `{"architectures":["GPT2LMHeadModel"],"scale_attn_by_inverse_layer_idx":true}`, "scale_attn_by_inverse_layer_idx"},
		{"bad eos", `{"architectures":["LlamaForCausalLM"],"eos_token_id":"</s>"}`, "eos_token_id: want a token id"},
		{"negative eos in list", `{"architectures":["LlamaForCausalLM"],"eos_token_id":[1,-2]}`, "token id -2 is out of range"},
		{"architectures not a list", `{"architectures":"LlamaForCausalLM"}`, "architectures: want a list of strings"},
		{"infinite theta", `{"architectures":["LlamaForCausalLM"],"rope_theta":1e999}`, "rope_theta"},
	}
	for _, tc := range tests {
		_, err := ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
