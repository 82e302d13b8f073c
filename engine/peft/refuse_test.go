package peft_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"webpeft/engine/format/gguf"
	"webpeft/engine/format/safetensors"
	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// exportedPEFT is model from's adapter (config c) as PEFT files.
func exportedPEFT(t *testing.T, from *model.Model, c peft.Config) (cfg, ts []byte) {
	t.Helper()
	set, params := trained(t, from, c)
	cfg, ts, err := peft.ExportPEFT(set, params, model.PEFTInfo(from.Spec))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, ts
}

func exportedGGUF(t *testing.T, from *model.Model, c peft.Config) []byte {
	t.Helper()
	set, params := trained(t, from, c)
	var buf bytes.Buffer
	if err := peft.ExportGGUF(&buf, set, params, model.PEFTInfo(from.Spec)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withTensor returns safetensors bytes ts with one more F32 tensor.
func withTensor(t *testing.T, ts []byte, name string, shape ...int64) []byte {
	t.Helper()
	f, err := safetensors.Open(bytes.NewReader(ts), int64(len(ts)))
	if err != nil {
		t.Fatal(err)
	}
	var out []safetensors.WriteTensor
	for _, ti := range f.Tensors {
		raw, err := f.ReadRaw(&ti, 0, ti.Rows())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, safetensors.WriteTensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: raw})
	}
	n := int64(4)
	for _, d := range shape {
		n *= d
	}
	out = append(out, safetensors.WriteTensor{Name: name, DType: safetensors.F32, Shape: shape, Data: make([]byte, n)})
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, out, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// editJSON sets key in the JSON object cfg.
func editJSON(t *testing.T, cfg []byte, key string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = v
	b, _ := json.Marshal(m)
	return b
}

// wantErr checks that err is an error whose message has every part.
func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted", what)
		return
	}
	t.Logf("%s: %v", what, err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %q does not name %q", what, err, p)
		}
	}
}

// TestPEFTImportRefusals: a Hugging Face PEFT adapter that does not fit
// the base is refused, naming the tensor (or key) that does not fit.
func TestPEFTImportRefusals(t *testing.T) {
	llama, gpt2 := tinyModel(t, model.Llama), tinyModel(t, model.GPT2)
	d, info := model.PEFTDims(llama.Spec), model.PEFTInfo(llama.Spec)
	lora := peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "v"}}
	imp := func(cfg, ts []byte) error { _, _, err := peft.ImportPEFT(cfg, ts, d, info); return err }

	cfg, ts := exportedPEFT(t, gpt2, lora)
	wantErr(t, "gpt2 adapter on llama", imp(cfg, ts), "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", "llama")

	wide := tinyModelWith(t, model.Llama, func(c *model.RandomConfig) { c.Hidden = 64 })
	cfg, ts = exportedPEFT(t, wide, lora)
	wantErr(t, "hidden 64 on 32", imp(cfg, ts), "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "[4 64]", "[4 32]")

	deep := tinyModelWith(t, model.Llama, func(c *model.RandomConfig) { c.Layers = 3 })
	cfg, ts = exportedPEFT(t, deep, lora)
	wantErr(t, "3 layers on 2", imp(cfg, ts), "base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight", "2 layers")

	cfg, ts = exportedPEFT(t, llama, lora)
	wantErr(t, "lm_head LoRA", imp(cfg, withTensor(t, ts, "base_model.model.lm_head.lora_A.weight", 4, 32)), "base_model.model.lm_head.lora_A.weight")
	wantErr(t, "DoRA magnitude", imp(cfg, withTensor(t, ts, "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", 32)),
		"q_proj.lora_magnitude_vector", "DoRA")
	wantErr(t, "rank 5 in the config, 4 in the file", imp(editJSON(t, cfg, "r", 5), ts), "q_proj.lora_A.weight", "[5 32]")
	wantErr(t, "use_dora", imp(editJSON(t, cfg, "use_dora", true), ts), "use_dora")
	wantErr(t, "bias all", imp(editJSON(t, cfg, "bias", "all"), ts), "bias")
	wantErr(t, "seq2seq", imp(editJSON(t, cfg, "task_type", "SEQ_2_SEQ_LM"), ts), "task_type")

	gated := peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 2, Targets: []string{"gate"}}
	cfg, ts = exportedPEFT(t, llama, gated)
	_, _, err := peft.ImportPEFT(cfg, ts, model.PEFTDims(gpt2.Spec), model.PEFTInfo(gpt2.Spec))
	wantErr(t, "gate_proj on gpt2 (no such module)", err, "base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight", "gpt2")

	cfg, ts = exportedPEFT(t, wide, peft.Config{Method: peft.Prompt, VirtualTokens: 3})
	wantErr(t, "prompt of hidden 64", imp(cfg, ts), "prompt_embeddings", "[3 64]", "[3 32]")
	cfg, ts = exportedPEFT(t, deep, peft.Config{Method: peft.Prefix, VirtualTokens: 2})
	wantErr(t, "prefix of 3 layers", imp(cfg, ts), "num_layers", "prompt_embeddings")

	cfg, ts = exportedPEFT(t, llama, peft.Config{Method: peft.IA3})
	wantErr(t, "IA3 on q_proj", imp(cfg, withTensor(t, ts, "base_model.model.model.layers.0.self_attn.q_proj.ia3_l", 32, 1)),
		"base_model.model.model.layers.0.self_attn.q_proj.ia3_l")
	wantErr(t, "unknown peft_type", imp(editJSON(t, cfg, "peft_type", "LOHA"), ts), "LOHA")
}

// TestGGUFImportRefusals: a GGUF LoRA that does not fit the base is
// refused, naming the key or tensor.
func TestGGUFImportRefusals(t *testing.T) {
	llama, qwen := tinyModel(t, model.Llama), tinyModel(t, model.Qwen2)
	d, info := model.PEFTDims(llama.Spec), model.PEFTInfo(llama.Spec)
	lora := peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "v"}}
	imp := func(b []byte) error {
		_, _, err := peft.ImportGGUF(bytes.NewReader(b), int64(len(b)), d, info)
		return err
	}

	wantErr(t, "qwen2 adapter on llama", imp(exportedGGUF(t, qwen, lora)), "general.architecture", "qwen2", "llama")
	deep := tinyModelWith(t, model.Llama, func(c *model.RandomConfig) { c.Layers = 3 })
	wantErr(t, "3 layers on 2", imp(exportedGGUF(t, deep, lora)), "blk.2.attn_q.weight.lora_a")
	wide := tinyModelWith(t, model.Llama, func(c *model.RandomConfig) { c.Hidden = 64 })
	wantErr(t, "hidden 64 on 32", imp(exportedGGUF(t, wide, lora)), "blk.0.attn_q.weight")

	// A model file is not an adapter; an adapter of norms is refused by name.
	_, raw, err := model.RandomModel(model.RandomConfig{Arch: model.Llama, Vocab: 64, Hidden: 32, FFN: 48, Layers: 2,
		Heads: 4, KVHeads: 2, Context: 32, Type: tensor.F32, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a model file", imp(raw), "general.type")
	b := gguf.NewBuilder()
	for _, kv := range [][2]any{{"general.architecture", "llama"}, {"general.type", "adapter"}, {"adapter.type", "lora"}} {
		b.AddKV(kv[0].(string), kv[1])
	}
	b.AddTensor("blk.0.attn_norm.weight", tensor.F32, []uint64{32}, make([]byte, 128))
	var buf bytes.Buffer
	b.WriteTo(&buf)
	wantErr(t, "norm tensor", imp(buf.Bytes()), "blk.0.attn_norm.weight")
}

// TestExportRefusals: methods a format cannot hold are refused with a
// message saying where they can go.
func TestExportRefusals(t *testing.T) {
	m := tinyModel(t, model.Llama)
	info := model.PEFTInfo(m.Spec)
	set, params := trained(t, m, peft.Config{Method: peft.Adapter, Bottleneck: 4})
	_, _, err := peft.ExportPEFT(set, params, info)
	wantErr(t, "bottleneck adapter to PEFT", err, "bottleneck adapters", "native format")
	err = peft.ExportGGUF(&bytes.Buffer{}, set, params, info)
	wantErr(t, "bottleneck adapter to GGUF", err, "llama.cpp has no adapter format for bottleneck adapters", "native format")
	set, params = trained(t, m, peft.Config{Method: peft.IA3})
	err = peft.ExportGGUF(&bytes.Buffer{}, set, params, info)
	wantErr(t, "IA3 to GGUF", err, "llama.cpp has no adapter format for ia3", "--format peft")

	set, err = peft.NewSet(model.PEFTDims(m.Spec), peft.Config{Method: peft.LoRA}, peft.Config{Method: peft.Prompt})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = peft.ExportPEFT(set, set.Init(1), info)
	wantErr(t, "LoRA + prompt", err, "lora+prompt")
	other := tinyModelWith(t, model.Llama, func(c *model.RandomConfig) { c.Hidden = 64 })
	set, params = trained(t, m, peft.Config{Method: peft.IA3})
	_, _, err = peft.ExportPEFT(set, params, model.PEFTInfo(other.Spec))
	wantErr(t, "info of another model", err, "hidden")
}
