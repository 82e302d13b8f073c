package hf

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadSmolLM2(t *testing.T) {
	m, err := LoadDir(filepath.Join("testdata", "smollm2-135m-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.HiddenSize != 576 {
		t.Errorf("config: %+v", m.Config)
	}
	g := m.Generation
	want := GenerationConfig{BOS: 1, EOS: []int{2}, PAD: 2, Temperature: 1, TopK: 50, TopP: 1, RepetitionPenalty: 1, MaxLength: 20}
	if g == nil || !reflect.DeepEqual(*g, want) {
		t.Errorf("generation: got %+v, want %+v", g, want)
	}
	tok := m.Tokenizer
	if tok.BOSToken != "<|im_start|>" || tok.EOSToken != "<|im_end|>" || tok.PADToken != "<|im_end|>" ||
		tok.UNKToken != "<|endoftext|>" || tok.TokenizerClass != "GPT2Tokenizer" || tok.AddBOSToken != nil {
		t.Errorf("tokenizer: %+v", tok)
	}
	if !strings.HasPrefix(tok.ChatTemplate, "{% for message in messages %}") || tok.ChatTemplates != nil {
		t.Errorf("chat template %q", tok.ChatTemplate)
	}
}

func TestLoadQwen(t *testing.T) {
	m, err := LoadDir(filepath.Join("testdata", "qwen2.5-0.5b-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	want := GenerationConfig{BOS: 151643, EOS: []int{151645, 151643}, PAD: 151643, DoSample: true,
		Temperature: 0.7, TopK: 20, TopP: 0.8, RepetitionPenalty: 1.1, MaxLength: 20}
	if !reflect.DeepEqual(*m.Generation, want) {
		t.Errorf("generation: got %+v, want %+v", *m.Generation, want)
	}
	tok := m.Tokenizer
	if tok.BOSToken != "" || tok.EOSToken != "<|im_end|>" || tok.AddBOSToken == nil || *tok.AddBOSToken {
		t.Errorf("tokenizer: %+v", tok)
	}
	// The template comes from chat_template.jinja.
	if !strings.Contains(tok.ChatTemplate, "<|im_start|>assistant") {
		t.Errorf("chat template %q", tok.ChatTemplate)
	}
}

func TestLoadTinyLlama(t *testing.T) {
	m, err := LoadDir(filepath.Join("testdata", "tinyllama-1.1b-chat"))
	if err != nil {
		t.Fatal(err)
	}
	tok := m.Tokenizer
	if tok.BOSToken != "<s>" || tok.EOSToken != "</s>" || tok.UNKToken != "<unk>" || tok.PADToken != "</s>" {
		t.Errorf("AddedToken objects: %+v", tok)
	}
	if tok.AddBOSToken == nil || !*tok.AddBOSToken || tok.AddEOSToken == nil || *tok.AddEOSToken {
		t.Errorf("add_bos/eos: %v %v", tok.AddBOSToken, tok.AddEOSToken)
	}
	if !strings.HasPrefix(tok.ChatTemplate, "{% for message") || tok.ChatTemplates["tool_use"] != "{{ tools }}" {
		t.Errorf("named templates: %q %v", tok.ChatTemplate, tok.ChatTemplates)
	}
	if m.Generation != nil {
		t.Errorf("generation config without a file: %+v", m.Generation)
	}
}

func TestLoadErrors(t *testing.T) {
	cfg := &fstest.MapFile{Data: []byte(`{"architectures":["LlamaForCausalLM"]}`)}
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"no config", fstest.MapFS{}, "config.json"},
		{"bad generation", fstest.MapFS{ConfigFile: cfg, GenerationConfigFile: {Data: []byte(`{"top_k":"x"}`)}},
			`generation_config.json: top_k: want an integer, got "x"`},
		{"bad tokenizer", fstest.MapFS{ConfigFile: cfg, TokenizerConfigFile: {Data: []byte(`{"bos_token":{"id":1}}`)}},
			"tokenizer_config.json: bos_token: want a token string"},
		{"duplicate template", fstest.MapFS{ConfigFile: cfg, TokenizerConfigFile: {Data: []byte(`{"chat_template":[{"name":"a"},{"name":"a"}]}`)}},
			`template "a" given twice`},
		{"bad template", fstest.MapFS{ConfigFile: cfg, TokenizerConfigFile: {Data: []byte(`{"chat_template":7}`)}},
			"chat_template: want a template string"},
	}
	for _, tc := range tests {
		_, err := Load(tc.fs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzConfig: no input makes the parsers panic, and an accepted config.json
// satisfies what validate promises.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":576,"num_attention_heads":9,"num_key_value_heads":3}`))
	f.Add([]byte(`{"architectures":["GPT2LMHeadModel"],"n_inner":null,"eos_token_id":[1,2]}`))
	f.Add([]byte(`{"model_type":"qwen2","use_sliding_window":true,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseGenerationConfig(data)
		ParseTokenizerConfig(data)
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.Heads <= 0 || c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 || c.HeadDim <= 0 || c.HiddenSize%c.Heads != 0 {
			t.Fatalf("accepted inconsistent heads: %+v", c)
		}
		if c.Architecture != "gpt2" && (c.HeadDim%2 != 0 || !(c.RopeTheta > 0) || !(c.RMSNormEps > 0)) {
			t.Fatalf("accepted bad rope/norm values: %+v", c)
		}
		if c.MaxSequence() <= 0 {
			t.Fatalf("MaxSequence %d", c.MaxSequence())
		}
	})
}
