package peft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	"webpeft/engine/format/safetensors"
)

// Hugging Face PEFT adapter folders, as github.com/huggingface/peft
// (read at v0.20.1.dev0) saves and loads them:
//
//   - the file names are ConfigFile and TensorsFile (src/peft/utils/
//     constants.py CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME);
//   - adapter_config.json is the method's config dataclass as JSON
//     (config.py, tuners/*/config.py); unknown keys are dropped with a
//     warning, so only keys PEFT defines are written;
//   - adapter_model.safetensors is the adapter's state dict with the
//     adapter name removed (tuners_utils.py
//     _remove_adapter_name_from_state_dict_key): LoRA
//     base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight
//     (out, r), IA3 base_model.model.<module>.ia3_l ((out, 1), or (1, in)
//     for feed-forward modules: tuners/ia3/layer.py), prompt and prefix
//     tuning one prompt_embeddings tensor (BasePromptEncoder
//     _get_adapter_state_dict).
//
// Module paths are transformers': model.layers.N.self_attn.q_proj ...
// mlp.down_proj for llama and qwen2, transformer.h.N.attn.c_attn,
// attn.c_proj, mlp.c_fc, mlp.c_proj for gpt2. Hugging Face checkpoints
// keep Q/K rows in half-rotation order, so a model whose rows are
// permuted (a llama GGUF file) has its adapter reordered (Set.Reorder)
// on the way out and on the way in.

// hfType is PEFT's peft_type of each method (src/peft/utils/peft_types.py).
var hfType = map[string]string{LoRA: "LORA", IA3: "IA3", Prompt: "PROMPT_TUNING", Prefix: "PREFIX_TUNING"}

// hfInit maps prompt-tuning initialisations to PEFT's PromptTuningInit.
var hfInit = map[string]string{"random": "RANDOM", "vocab": "SAMPLE_VOCAB", "text": "TEXT"}

// hfModulePath is the transformers module path of webpeft module m ("qkv":
// gpt2's c_attn) in layer l.
func hfModulePath(arch string, l int, m string) string {
	if arch == "gpt2" {
		sub := map[string]string{"qkv": "attn.c_attn", "o": "attn.c_proj", "up": "mlp.c_fc", "down": "mlp.c_proj"}[m]
		return fmt.Sprintf("transformer.h.%d.%s", l, sub)
	}
	sub := map[string]string{"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
		"o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}[m]
	return fmt.Sprintf("model.layers.%d.%s", l, sub)
}

// hfTarget is the target_modules entry for module m. PEFT matches an
// entry against a module path's dotted suffix (tuners_utils.py
// check_target_module_exists), so gpt2's two c_proj layers are told apart
// as attn.c_proj (o) and mlp.c_proj (down).
func hfTarget(arch, m string) string {
	p := hfModulePath(arch, 0, m)
	switch {
	case m == "qkv":
		return "c_attn" // PEFT's own default target for gpt2
	case arch == "gpt2":
		return strings.TrimPrefix(p, "transformer.h.0.")
	}
	return p[strings.LastIndex(p, ".")+1:]
}

const hfPrefix = "base_model.model."

// ExportPEFT returns a Hugging Face PEFT adapter folder's two files for
// the single method of set: LoRA, IA3, prompt or prefix tuning. params
// are in the Q/K row order of the model info describes; the files are in
// Hugging Face's. Bottleneck adapters have no PEFT type and are refused.
func ExportPEFT(set *Set, params []float32, info ModelInfo) (config, tensors []byte, err error) {
	c, err := exportMethod(set, params, info)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := hfType[c.Method]; !ok {
		return nil, nil, fmt.Errorf("peft: bottleneck adapters have no Hugging Face PEFT type (PEFT has none); they stay in webpeft's native format (%s + %s, see the README)", ConfigFile, TensorsFile)
	}
	hf := params
	if info.PermutedQK {
		if hf, err = set.Reorder(params, info.Heads, info.KVHeads, false); err != nil {
			return nil, nil, err
		}
	}
	cfg := map[string]any{"peft_type": hfType[c.Method], "task_type": "CAUSAL_LM",
		"base_model_name_or_path": info.Name, "revision": nil, "inference_mode": true}
	var ts []safetensors.WriteTensor
	switch c.Method {
	case LoRA:
		ts = hfLoRA(set, hf, info, cfg)
	case IA3:
		ts = hfIA3(set, hf, info, cfg)
	default:
		if ts, err = hfPrompt(set, hf, info, c, cfg); err != nil {
			return nil, nil, err
		}
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		return nil, nil, err
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return append(js, '\n'), buf.Bytes(), nil
}

// exportMethod checks what both export formats need and returns the
// set's one method.
func exportMethod(set *Set, params []float32, info ModelInfo) (Config, error) {
	if len(params) != set.Size {
		return Config{}, fmt.Errorf("peft: %d parameters for a set of %d", len(params), set.Size)
	}
	if err := info.Check(set.Dims); err != nil {
		return Config{}, err
	}
	if len(set.Configs) != 1 {
		var ms []string
		for _, c := range set.Configs {
			ms = append(ms, c.Method)
		}
		return Config{}, fmt.Errorf("peft: the adapter combines %s; Hugging Face PEFT and llama.cpp files hold one method (keep the native folder, or train the methods separately)", strings.Join(ms, "+"))
	}
	return set.Configs[0], nil
}

// f32Tensor is a safetensors F32 tensor of x in shape.
func f32Tensor(name string, x []float32, shape ...int) safetensors.WriteTensor {
	b, _ := safetensors.EncodeF32(safetensors.F32, x) // F32 cannot fail
	sh := make([]int64, len(shape))
	for i, d := range shape {
		sh[i] = int64(d)
	}
	return safetensors.WriteTensor{Name: name, DType: safetensors.F32, Shape: sh, Data: b}
}

// hfLoRA fills cfg with LoraConfig's keys (tuners/lora/config.py) and
// returns the lora_A / lora_B tensors.
func hfLoRA(set *Set, params []float32, info ModelInfo, cfg map[string]any) []safetensors.WriteTensor {
	c, _ := set.Config(LoRA)
	pairs, R := loraExportPairs(set, params, info.Arch)
	var targets []string
	var ts []safetensors.WriteTensor
	for _, p := range pairs {
		path := hfPrefix + hfModulePath(info.Arch, p.layer, p.module)
		ts = append(ts, f32Tensor(path+".lora_A.weight", p.a, R, p.in), f32Tensor(path+".lora_B.weight", p.b, p.out, R))
		if t := hfTarget(info.Arch, p.module); !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	cfg["r"], cfg["lora_alpha"], cfg["lora_dropout"] = R, exportAlpha(c, R, c.RSLoRA), c.Dropout
	cfg["use_rslora"], cfg["target_modules"], cfg["bias"] = c.RSLoRA, targets, "none"
	// GPT-2's Conv1D stores (in, out); PEFT wants fan_in_fan_out there.
	cfg["fan_in_fan_out"] = info.Arch == "gpt2"
	cfg["use_dora"], cfg["init_lora_weights"], cfg["modules_to_save"] = false, true, nil
	cfg["layers_to_transform"], cfg["layers_pattern"] = nil, nil
	cfg["rank_pattern"], cfg["alpha_pattern"] = map[string]any{}, map[string]any{}
	return ts
}

// hfIA3 fills cfg with IA3Config's keys (tuners/ia3/config.py) and returns
// the ia3_l vectors: k_proj and v_proj outputs (out, 1), down_proj's
// input (1, FFN) as a feed-forward module; gpt2: all of c_attn's output
// (q too) and mlp.c_proj's input, PEFT's own choice for gpt2
// (utils/constants.py TRANSFORMERS_MODELS_TO_IA3_*_MAPPING).
func hfIA3(set *Set, params []float32, info ModelInfo, cfg map[string]any) []safetensors.WriteTensor {
	d := set.Dims
	vec := func(l int, n string) []float32 {
		t, _ := set.Tensor(fmt.Sprintf("blk.%d.ia3.%s", l, n))
		return params[t.Off : t.Off+t.Len]
	}
	var ts []safetensors.WriteTensor
	name := func(l int, m string) string { return hfPrefix + hfModulePath(info.Arch, l, m) + ".ia3_l" }
	for l := 0; l < d.Layers; l++ {
		if info.Arch == "gpt2" {
			qkv := slices.Concat(vec(l, "q"), vec(l, "k"), vec(l, "v"))
			ts = append(ts, f32Tensor(name(l, "qkv"), qkv, len(qkv), 1))
		} else {
			ts = append(ts, f32Tensor(name(l, "k"), vec(l, "k"), d.KV, 1), f32Tensor(name(l, "v"), vec(l, "v"), d.KV, 1))
		}
		ts = append(ts, f32Tensor(name(l, "down"), vec(l, "ffn"), 1, d.FFN))
	}
	targets, ff := []string{"k_proj", "v_proj", "down_proj"}, []string{"down_proj"}
	if info.Arch == "gpt2" {
		targets, ff = []string{"c_attn", "mlp.c_proj"}, []string{"mlp.c_proj"}
	}
	cfg["target_modules"], cfg["feedforward_modules"] = targets, ff
	cfg["fan_in_fan_out"], cfg["init_ia3_weights"], cfg["modules_to_save"] = info.Arch == "gpt2", true, nil
	return ts
}

// hfPrompt fills cfg with PromptTuningConfig's or PrefixTuningConfig's
// keys (config.py PromptLearningConfig, tuners/prompt_tuning/config.py,
// tuners/prefix_tuning/config.py) and returns prompt_embeddings: the
// virtual token embeddings (P, hidden), or the final prefixes (P,
// L*2*KV) that PEFT saves for prefix tuning, the projection's output
// when there is one (peft_model.py get_prompt_embedding_to_save). For
// grouped-query attention PEFT sizes prefixes by the KV heads: token_dim
// = head_dim * KV heads, num_attention_heads = KV heads (utils/other.py).
func hfPrompt(set *Set, params []float32, info ModelInfo, c Config, cfg map[string]any) ([]safetensors.WriteTensor, error) {
	d, P := set.Dims, c.VirtualTokens
	cfg["num_virtual_tokens"], cfg["num_transformer_submodules"], cfg["num_layers"] = P, 1, d.Layers
	cfg["modules_to_save"] = nil
	if c.Method == Prompt {
		cfg["token_dim"], cfg["num_attention_heads"] = d.Hidden, info.Heads
		cfg["prompt_tuning_init"], cfg["prompt_tuning_init_text"], cfg["tokenizer_name_or_path"] = hfInit[c.PromptInit], nil, nil
		if c.PromptInit == "text" {
			// PEFT requires both for TEXT (and reads them only when training).
			cfg["prompt_tuning_init_text"], cfg["tokenizer_name_or_path"] = c.InitText, info.Name
		}
		cfg["tokenizer_kwargs"] = nil
		t, _ := set.Tensor("prompt.embeddings")
		return []safetensors.WriteTensor{f32Tensor("prompt_embeddings", params[t.Off:t.Off+t.Len], P, d.Hidden)}, nil
	}
	kv, err := set.PrefixKV(params)
	if err != nil {
		return nil, err
	}
	cfg["token_dim"], cfg["num_attention_heads"] = d.KV, info.KVHeads
	cfg["prefix_projection"], cfg["encoder_hidden_size"] = c.PrefixProjection, nil
	if c.PrefixProjection {
		cfg["encoder_hidden_size"] = c.EncoderHidden
	}
	return []safetensors.WriteTensor{f32Tensor("prompt_embeddings", kv, P, d.Layers*2*d.KV)}, nil
}

// hfConfig is the part of adapter_config.json webpeft reads, with PEFT's
// defaults for absent keys.
type hfConfig struct {
	PeftType string  `json:"peft_type"`
	TaskType *string `json:"task_type"`
	Base     string  `json:"base_model_name_or_path"`

	R            int                `json:"r"`
	Alpha        float64            `json:"lora_alpha"`
	Dropout      float64            `json:"lora_dropout"`
	RSLoRA       bool               `json:"use_rslora"`
	DoRA         bool               `json:"use_dora"`
	Bias         string             `json:"bias"`
	RankPattern  map[string]int     `json:"rank_pattern"`
	AlphaPattern map[string]float64 `json:"alpha_pattern"`

	VirtualTokens int     `json:"num_virtual_tokens"`
	Submodules    int     `json:"num_transformer_submodules"`
	Layers        int     `json:"num_layers"`
	PromptInit    string  `json:"prompt_tuning_init"`
	InitText      *string `json:"prompt_tuning_init_text"`
}

// ImportPEFT reads a Hugging Face PEFT adapter folder's two files (LoRA,
// IA3, prompt or prefix tuning) into a set and flat parameters for the
// model with dims d described by base. A prefix-tuning adapter imports
// as plain prefixes (what PEFT saves, projected or not). An adapter that
// does not fit the model is refused, naming the tensor or key.
func ImportPEFT(config, tensors []byte, d Dims, base ModelInfo) (*Set, []float32, error) {
	if err := base.Check(d); err != nil {
		return nil, nil, err
	}
	c := hfConfig{R: 8, Alpha: 8, Bias: "none", Submodules: 1, PromptInit: "RANDOM"}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, nil, fmt.Errorf("peft: %s: %w", ConfigFile, err)
	}
	if c.TaskType != nil && *c.TaskType != "CAUSAL_LM" {
		return nil, nil, fmt.Errorf("peft: %s: task_type %q: webpeft runs causal language models (CAUSAL_LM)", ConfigFile, *c.TaskType)
	}
	f, err := safetensors.Open(bytes.NewReader(tensors), int64(len(tensors)))
	if err != nil {
		return nil, nil, fmt.Errorf("peft: %s: %w", TensorsFile, err)
	}
	ts := &hfTensors{f: f, used: map[string]bool{}, base: base}
	var set *Set
	var params []float32
	switch c.PeftType {
	case "LORA":
		set, params, err = importHFLoRA(c, ts, d, base.Arch)
	case "IA3":
		set, params, err = importHFIA3(ts, d, base.Arch)
	case "PROMPT_TUNING", "PREFIX_TUNING":
		set, params, err = importHFPrompt(c, ts, d)
	default:
		err = fmt.Errorf("peft: %s: peft_type %q: webpeft imports LORA, IA3, PROMPT_TUNING and PREFIX_TUNING", ConfigFile, c.PeftType)
	}
	if err == nil {
		err = ts.unused()
	}
	if err != nil {
		return nil, nil, err
	}
	if base.PermutedQK {
		params, err = set.Reorder(params, base.Heads, base.KVHeads, true)
	}
	return set, params, err
}

// hfTensors reads the tensors of adapter_model.safetensors and remembers
// which were used, so that one the model has no place for is refused.
type hfTensors struct {
	f    *safetensors.File
	used map[string]bool
	base ModelInfo
}

func (t *hfTensors) has(name string) bool {
	_, err := t.f.Tensor(name)
	return err == nil
}

// read returns the named tensor, which must have shape.
func (t *hfTensors) read(name string, shape ...int) ([]float32, error) {
	info, err := t.f.Tensor(name)
	if err != nil {
		return nil, fmt.Errorf("peft: %s has no %s", TensorsFile, name)
	}
	want := make([]int64, len(shape))
	for i, d := range shape {
		want[i] = int64(d)
	}
	if !slices.Equal(info.Shape, want) {
		return nil, fmt.Errorf("peft: %s: %s is %v; the %s base model (%s) needs %v", TensorsFile, name, info.Shape, t.base.Arch, t.base.Name, want)
	}
	t.used[name] = true
	return t.f.ReadF32(info, 0, info.Rows())
}

// unused refuses the first tensor nothing read.
func (t *hfTensors) unused() error {
	for _, info := range t.f.Tensors {
		if t.used[info.Name] {
			continue
		}
		why := "webpeft has no module of this base model it could apply it to"
		switch {
		case strings.Contains(info.Name, "lora_magnitude_vector"):
			why = "DoRA is not supported"
		case strings.HasSuffix(info.Name, ".bias"):
			why = "LoRA biases are not supported"
		}
		return fmt.Errorf("peft: %s: %s does not fit the %s base model (%s, %d layers): %s", TensorsFile, info.Name, t.base.Arch, t.base.Name, t.base.Layers, why)
	}
	return nil
}

// hfLoRAModules are the modules a LoRA may target, "qkv" for gpt2's c_attn.
func hfLoRAModules(d Dims, arch string) []string {
	if arch == "gpt2" {
		return []string{"qkv", "o", "up", "down"}
	}
	return AllModules(d)
}

// hfInOut is module m's input and output widths.
func hfInOut(d Dims, m string) (in, out int) {
	if m == "qkv" {
		return d.Hidden, d.Q + 2*d.KV
	}
	return d.InOut(m)
}

// rankAlpha is the rank and alpha PEFT gives the module at path:
// rank_pattern / alpha_pattern entries match a dotted suffix as a regular
// expression (utils/other.py get_pattern_key; tried in sorted order here,
// as Go's JSON maps lose the file's), else r and lora_alpha.
func (c hfConfig) rankAlpha(path string) (int, float64, error) {
	r, alpha := c.R, c.Alpha
	for _, k := range slices.Sorted(maps.Keys(c.RankPattern)) {
		if ok, err := patternMatch(k, path); err != nil {
			return 0, 0, err
		} else if ok {
			r = c.RankPattern[k]
			break
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.AlphaPattern)) {
		if ok, err := patternMatch(k, path); err != nil {
			return 0, 0, err
		} else if ok {
			alpha = c.AlphaPattern[k]
			break
		}
	}
	return r, alpha, nil
}

func patternMatch(key, path string) (bool, error) {
	re, err := regexp.Compile(`^(.*\.)?(` + key + `)$`)
	if err != nil {
		return false, fmt.Errorf("peft: %s: pattern %q: %w", ConfigFile, key, err)
	}
	return re.MatchString(path), nil
}

// importHFLoRA reads every lora_A / lora_B pair of the model's modules.
func importHFLoRA(c hfConfig, ts *hfTensors, d Dims, arch string) (*Set, []float32, error) {
	switch {
	case c.DoRA:
		return nil, nil, fmt.Errorf("peft: %s: use_dora: DoRA adapters are not supported", ConfigFile)
	case c.Bias != "none":
		return nil, nil, fmt.Errorf("peft: %s: bias %q: LoRA biases are not supported (want \"none\")", ConfigFile, c.Bias)
	}
	var pairs []loraPair
	for l := 0; l < d.Layers; l++ {
		for _, m := range hfLoRAModules(d, arch) {
			path := hfModulePath(arch, l, m)
			an, bn := hfPrefix+path+".lora_A.weight", hfPrefix+path+".lora_B.weight"
			if !ts.has(an) && !ts.has(bn) {
				continue
			}
			p, err := readHFPair(c, ts, d, path, an, bn, m)
			if err != nil {
				return nil, nil, err
			}
			p.layer = l
			if m == "qkv" {
				pairs = append(pairs, splitQKV(d, p)...)
			} else {
				pairs = append(pairs, p)
			}
		}
	}
	// A tensor left over names what does not fit better than "no LoRA".
	if err := ts.unused(); err != nil {
		return nil, nil, err
	}
	return assembleLoRA(d, pairs, c.Dropout, c.RSLoRA)
}

// readHFPair reads one module's A and B with the rank and scale PEFT
// gives it (tuners/lora/layer.py update_layer: alpha/r, or alpha/sqrt(r)
// with use_rslora).
func readHFPair(c hfConfig, ts *hfTensors, d Dims, path, an, bn, m string) (loraPair, error) {
	r, alpha, err := c.rankAlpha(path)
	if err != nil {
		return loraPair{}, err
	}
	if r < 1 {
		return loraPair{}, fmt.Errorf("peft: %s: rank %d for %s", ConfigFile, r, path)
	}
	in, out := hfInOut(d, m)
	a, err := ts.read(an, r, in)
	if err != nil {
		return loraPair{}, err
	}
	b, err := ts.read(bn, out, r)
	if err != nil {
		return loraPair{}, err
	}
	scale := alpha / float64(r)
	if c.RSLoRA {
		scale = alpha / math.Sqrt(float64(r))
	}
	return loraPair{module: m, rank: r, a: a, b: b, scale: scale}, nil
}

// importHFIA3 reads the ia3_l vectors webpeft's IA3 has places for; a
// module the file does not scale keeps 1 (no change).
func importHFIA3(ts *hfTensors, d Dims, arch string) (*Set, []float32, error) {
	set, err := NewSet(d, Config{Method: IA3})
	if err != nil {
		return nil, nil, err
	}
	params := set.Init(0) // ones
	for l := 0; l < d.Layers; l++ {
		name := func(m string) string { return hfPrefix + hfModulePath(arch, l, m) + ".ia3_l" }
		type vec struct {
			module string
			shape  []int
			places []string // webpeft vectors it fills, in order
		}
		vecs := []vec{{"k", []int{d.KV, 1}, []string{"k"}}, {"v", []int{d.KV, 1}, []string{"v"}}, {"down", []int{1, d.FFN}, []string{"ffn"}}}
		if arch == "gpt2" {
			vecs = []vec{{"qkv", []int{d.Q + 2*d.KV, 1}, []string{"q", "k", "v"}}, {"down", []int{1, d.FFN}, []string{"ffn"}}}
		}
		for _, v := range vecs {
			if !ts.has(name(v.module)) {
				continue
			}
			x, err := ts.read(name(v.module), v.shape...)
			if err != nil {
				return nil, nil, err
			}
			for _, p := range v.places {
				t, _ := set.Tensor(fmt.Sprintf("blk.%d.ia3.%s", l, p))
				x = x[copy(params[t.Off:t.Off+t.Len], x):]
			}
		}
	}
	return set, params, nil
}

// importHFPrompt reads prompt tuning's embeddings, or prefix tuning's
// final prefixes as plain (unprojected) prefixes.
func importHFPrompt(c hfConfig, ts *hfTensors, d Dims) (*Set, []float32, error) {
	if c.Submodules != 1 {
		return nil, nil, fmt.Errorf("peft: %s: num_transformer_submodules %d: a causal LM has 1", ConfigFile, c.Submodules)
	}
	if c.Layers != 0 && c.Layers != d.Layers {
		return nil, nil, fmt.Errorf("peft: %s: num_layers %d: the base model has %d (prompt_embeddings does not fit)", ConfigFile, c.Layers, d.Layers)
	}
	P := c.VirtualTokens
	if c.PeftType == "PROMPT_TUNING" {
		cfg := Config{Method: Prompt, VirtualTokens: P, PromptInit: "random"}
		if c.PromptInit == "SAMPLE_VOCAB" {
			cfg.PromptInit = "vocab"
		}
		if c.PromptInit == "TEXT" && c.InitText != nil && strings.TrimSpace(*c.InitText) != "" {
			cfg.PromptInit, cfg.InitText = "text", *c.InitText
		}
		set, err := NewSet(d, cfg)
		if err != nil {
			return nil, nil, err
		}
		x, err := ts.read("prompt_embeddings", P, d.Hidden)
		if err != nil {
			return nil, nil, err
		}
		params := make([]float32, set.Size)
		copy(params, x)
		return set, params, nil
	}
	set, err := NewSet(d, Config{Method: Prefix, VirtualTokens: P})
	if err != nil {
		return nil, nil, err
	}
	x, err := ts.read("prompt_embeddings", P, d.Layers*2*d.KV)
	if err != nil {
		return nil, nil, err
	}
	params := make([]float32, set.Size)
	for l := 0; l < d.Layers; l++ {
		for kv, which := range []string{"k", "v"} {
			t, _ := set.Tensor(fmt.Sprintf("blk.%d.prefix.%s", l, which))
			for p := 0; p < P; p++ {
				copy(params[t.Off+p*d.KV:][:d.KV], x[p*d.Layers*2*d.KV+(2*l+kv)*d.KV:][:d.KV])
			}
		}
	}
	return set, params, nil
}
