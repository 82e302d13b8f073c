// Package hf reads the JSON files that come with a Hugging Face model:
// config.json (hyper-parameters), generation_config.json and
// tokenizer_config.json. Missing keys take the defaults transformers' own
// configuration classes give them, so a file means here what it means to
// transformers.
package hf

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Config is what webpeft needs from a config.json.
type Config struct {
	Architecture   string // webpeft's name: "llama", "qwen2" or "gpt2"
	HFArchitecture string // as config.json names it, e.g. "MistralForCausalLM"
	ModelType      string // config.json's model_type, e.g. "mistral"

	VocabSize        int
	HiddenSize       int
	IntermediateSize int // feed-forward width
	Layers           int
	Heads            int
	KVHeads          int // grouped-query attention: Heads is a multiple of it
	HeadDim          int
	MaxPositions     int // max_position_embeddings / n_positions

	RopeTheta   float64      // 0 for gpt2 (learned positions)
	RopeScaling *RopeScaling // nil: plain RoPE

	RMSNormEps   float64 // llama, qwen2
	LayerNormEps float64 // gpt2

	TieEmbeddings    bool   // the LM head is the token embedding
	AttentionBias    bool   // Q/K/V projections have biases (qwen2 always, gpt2, llama with attention_bias)
	AttentionOutBias bool   // the attention output projection has a bias (gpt2, llama with attention_bias)
	MLPBias          bool   // the MLP projections have biases (gpt2, llama with mlp_bias)
	HiddenAct        string // "silu" for llama/qwen2, "gelu_new" for gpt2, as written

	// SlidingWindow > 0 says some layers attend only to the last
	// SlidingWindow positions (Mistral v0.1, Qwen2 with use_sliding_window).
	// webpeft implements full causal attention, which is exactly the same
	// for sequences no longer than the window: see MaxSequence.
	SlidingWindow int

	BOS int   // bos_token_id, -1 when none
	EOS []int // eos_token_id: one or several, empty when none
	PAD int   // pad_token_id, -1 when none

	TorchDType string // the checkpoint's dtype ("bfloat16", ...), "" when unstated
}

// RopeScaling is Llama 3's RoPE frequency scaling ("rope_type": "llama3").
type RopeScaling struct {
	Type                          string // "llama3"
	Factor                        float64
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int // original_max_position_embeddings
}

// MaxSequence is the longest sequence webpeft can run exactly: the model's
// positions, capped at the sliding window where there is one.
func (c *Config) MaxSequence() int {
	if c.SlidingWindow > 0 && c.SlidingWindow < c.MaxPositions {
		return c.SlidingWindow
	}
	return c.MaxPositions
}

// family is one supported configuration class and the defaults its
// constructor gives missing keys.
type family struct {
	hfArch, modelType, arch string

	vocab, hidden, inter, layers, heads int
	kvHeads                             int // 0: as many as heads
	maxPos                              int
	bos, eos                            int // -1: none
	tie                                 bool
}

// families: LlamaConfig, MistralConfig, Qwen2Config and GPT2Config as of
// transformers 4.4x-5.x. SmolLM, SmolLM2 and TinyLlama are LlamaForCausalLM.
var families = [...]family{
	{"LlamaForCausalLM", "llama", "llama", 32000, 4096, 11008, 32, 32, 0, 2048, 1, 2, false},
	{"MistralForCausalLM", "mistral", "llama", 32000, 4096, 14336, 32, 32, 8, 4096 * 32, 1, 2, false},
	{"Qwen2ForCausalLM", "qwen2", "qwen2", 151936, 4096, 22016, 32, 32, 32, 32768, -1, -1, false},
	{"GPT2LMHeadModel", "gpt2", "gpt2", 50257, 768, 0, 12, 12, 0, 1024, 50256, 50256, true},
}

func supportedArchitectures() string {
	var names []string
	for _, f := range families {
		names = append(names, f.hfArch)
	}
	return strings.Join(names, ", ")
}

// ParseConfig parses a config.json.
func ParseConfig(data []byte) (*Config, error) {
	o, err := parseObject("config.json", data)
	if err != nil {
		return nil, err
	}
	fam, err := pickFamily(o)
	if err != nil {
		return nil, err
	}
	c := &Config{Architecture: fam.arch, HFArchitecture: fam.hfArch, ModelType: fam.modelType}
	if fam.arch == "gpt2" {
		readGPT2(o, c, fam)
	} else {
		readLlama(o, c, fam)
	}
	c.BOS = o.tokenID("bos_token_id", fam.bos)
	c.EOS = o.tokenIDs("eos_token_id", idList(fam.eos))
	c.PAD = o.tokenID("pad_token_id", -1)
	c.TieEmbeddings = o.bool("tie_word_embeddings", fam.tie)
	c.TorchDType = o.string("torch_dtype", o.string("dtype", ""))
	if o.err != nil {
		return nil, o.err
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return c, nil
}

func idList(id int) []int {
	if id < 0 {
		return nil
	}
	return []int{id}
}

// pickFamily chooses the configuration class from "architectures" (the
// model class transformers would build), or from model_type when a config
// has no architectures; the two must not disagree.
func pickFamily(o *object) (family, error) {
	archs := o.strings("architectures")
	modelType := o.string("model_type", "")
	if o.err != nil {
		return family{}, o.err
	}
	for _, a := range archs {
		for _, f := range families {
			if f.hfArch != a {
				continue
			}
			if modelType != "" && modelType != f.modelType && isKnownModelType(modelType) {
				return family{}, fmt.Errorf("config.json: model_type %q does not match architecture %s", modelType, a)
			}
			return f, nil
		}
	}
	if len(archs) > 0 {
		return family{}, fmt.Errorf("config.json: architectures %v are not supported (supported: %s)", archs, supportedArchitectures())
	}
	for _, f := range families {
		if f.modelType == modelType {
			return f, nil
		}
	}
	return family{}, fmt.Errorf("config.json: no architectures, and model_type %q is not supported (supported: %s)", modelType, supportedArchitectures())
}

func isKnownModelType(t string) bool {
	return slices.ContainsFunc(families[:], func(f family) bool { return f.modelType == t })
}

// readLlama reads LlamaConfig, MistralConfig and Qwen2Config keys.
func readLlama(o *object, c *Config, fam family) {
	c.VocabSize = o.int("vocab_size", fam.vocab)
	c.HiddenSize = o.int("hidden_size", fam.hidden)
	c.IntermediateSize = o.int("intermediate_size", fam.inter)
	c.Layers = o.int("num_hidden_layers", fam.layers)
	c.Heads = o.int("num_attention_heads", fam.heads)
	c.KVHeads = readKVHeads(o, c.Heads, fam)
	if c.Heads > 0 {
		c.HeadDim = o.int("head_dim", c.HiddenSize/c.Heads)
	}
	c.MaxPositions = o.int("max_position_embeddings", fam.maxPos)
	c.RMSNormEps = o.float("rms_norm_eps", 1e-6)
	c.HiddenAct = o.string("hidden_act", "silu")
	c.AttentionBias = fam.arch == "qwen2" || o.bool("attention_bias", false)
	c.AttentionOutBias = fam.arch == "llama" && o.bool("attention_bias", false)
	c.MLPBias = fam.arch == "llama" && o.bool("mlp_bias", false)
	readRope(o, c)
	c.SlidingWindow = readSlidingWindow(o, c, fam)
	if o.float("partial_rotary_factor", 1) != 1 {
		o.fail("partial_rotary_factor", "RoPE on part of each head is not supported")
	}
}

// readKVHeads: a missing key takes the class default (8 for Mistral, 32
// for Qwen2), an explicit null means "as many as the heads".
func readKVHeads(o *object, heads int, fam family) int {
	if _, present := o.m["num_key_value_heads"]; present && !o.has("num_key_value_heads") {
		return heads
	}
	def := fam.kvHeads
	if def == 0 {
		def = heads
	}
	return o.int("num_key_value_heads", def)
}

// readSlidingWindow returns the window the model's attention uses, 0 for
// none. Mistral's sliding_window applies to every layer when set (4096 by
// default, null for none). Qwen2's applies only with use_sliding_window,
// and then only to the layers layer_types marks, or by default those from
// max_window_layers on.
func readSlidingWindow(o *object, c *Config, fam family) int {
	switch fam.modelType {
	case "mistral":
		if _, present := o.m["sliding_window"]; present && !o.has("sliding_window") {
			return 0
		}
		return o.int("sliding_window", 4096)
	case "qwen2":
		_, present := o.m["sliding_window"]
		if !o.bool("use_sliding_window", false) || (present && !o.has("sliding_window")) {
			return 0
		}
		window := o.int("sliding_window", 4096)
		if !qwen2HasSlidingLayer(o, c.Layers) {
			return 0
		}
		return window
	}
	return 0
}

func qwen2HasSlidingLayer(o *object, layers int) bool {
	if types := o.strings("layer_types"); types != nil {
		return slices.Contains(types, "sliding_attention")
	}
	return o.int("max_window_layers", 28) < layers
}

// readRope reads rope_theta and the RoPE scaling, from the legacy keys
// (rope_theta, rope_scaling) or transformers 5's rope_parameters. As in
// transformers, a non-empty rope_scaling wins over rope_parameters, and a
// rope_theta inside the dictionary over the top-level one.
func readRope(o *object, c *Config) {
	c.RopeTheta = o.float("rope_theta", 10000)
	params := o.sub("rope_scaling")
	if params == nil || len(params.m) == 0 {
		params = o.sub("rope_parameters")
	}
	if params == nil {
		return
	}
	c.RopeTheta = params.float("rope_theta", c.RopeTheta)
	for _, k := range slices.Sorted(maps.Keys(params.m)) {
		if v := params.m[k]; len(v) > 0 && v[0] == '{' {
			params.fail(k, "per-layer RoPE parameters are not supported")
		}
	}
	typ := params.string("rope_type", params.string("type", "default"))
	switch typ {
	case "default":
	case "llama3":
		c.RopeScaling = readLlama3(params)
	default:
		params.fail("rope_type", "%q is not supported (supported: default, llama3)", typ)
	}
	if o.err == nil {
		o.err = params.err
	}
}

// readLlama3 reads the llama3 scaling keys, all of which transformers
// requires.
func readLlama3(p *object) *RopeScaling {
	for _, k := range []string{"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} {
		if !p.has(k) {
			p.fail(k, "missing; llama3 RoPE scaling needs it")
		}
	}
	return &RopeScaling{
		Type:                 "llama3",
		Factor:               p.float("factor", 0),
		LowFreqFactor:        p.float("low_freq_factor", 0),
		HighFreqFactor:       p.float("high_freq_factor", 0),
		OriginalMaxPositions: p.int("original_max_position_embeddings", 0),
	}
}

// readGPT2 reads GPT2Config keys. The attribute_map aliases (hidden_size,
// num_hidden_layers, ...) override the n_* keys when present, as they do
// in transformers.
func readGPT2(o *object, c *Config, fam family) {
	c.VocabSize = o.int("vocab_size", fam.vocab)
	c.HiddenSize = o.int("hidden_size", o.int("n_embd", fam.hidden))
	c.Layers = o.int("num_hidden_layers", o.int("n_layer", fam.layers))
	c.Heads = o.int("num_attention_heads", o.int("n_head", fam.heads))
	c.KVHeads = c.Heads
	if c.Heads > 0 {
		c.HeadDim = c.HiddenSize / c.Heads
	}
	c.IntermediateSize = o.int("n_inner", 4*c.HiddenSize)
	c.MaxPositions = o.int("max_position_embeddings", o.int("n_positions", fam.maxPos))
	c.LayerNormEps = o.float("layer_norm_epsilon", 1e-5)
	c.HiddenAct = o.string("activation_function", "gelu_new")
	c.AttentionBias, c.AttentionOutBias, c.MLPBias = true, true, true
	if !o.bool("scale_attn_weights", true) {
		o.fail("scale_attn_weights", "false is not supported: webpeft scales attention by 1/sqrt(head_dim)")
	}
	if o.bool("scale_attn_by_inverse_layer_idx", false) {
		o.fail("scale_attn_by_inverse_layer_idx", "true is not supported")
	}
}

// validate checks what the engine relies on: positive sizes, whole heads,
// grouped KV heads, even rotary dims, usable epsilons and RoPE values.
func (c *Config) validate() error {
	sizes := []struct {
		key string
		v   int
	}{
		{"vocab size", c.VocabSize}, {"hidden size", c.HiddenSize}, {"intermediate size", c.IntermediateSize},
		{"layers", c.Layers}, {"attention heads", c.Heads}, {"key/value heads", c.KVHeads},
		{"head dim", c.HeadDim}, {"max positions", c.MaxPositions},
	}
	for _, s := range sizes {
		if s.v <= 0 {
			return fmt.Errorf("%s is %d; it must be positive", s.key, s.v)
		}
	}
	if c.HiddenSize%c.Heads != 0 {
		return fmt.Errorf("hidden size %d is not a multiple of %d attention heads", c.HiddenSize, c.Heads)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("%d attention heads are not a multiple of %d key/value heads", c.Heads, c.KVHeads)
	}
	if c.SlidingWindow < 0 {
		return fmt.Errorf("sliding window %d is negative", c.SlidingWindow)
	}
	if c.Architecture == "gpt2" {
		return checkPositive("layer_norm_epsilon", c.LayerNormEps)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("head dim %d is odd; rotary embeddings need it even", c.HeadDim)
	}
	if err := checkPositive("rms_norm_eps", c.RMSNormEps); err != nil {
		return err
	}
	if err := checkPositive("rope_theta", c.RopeTheta); err != nil {
		return err
	}
	return c.RopeScaling.validate()
}

func (r *RopeScaling) validate() error {
	if r == nil {
		return nil
	}
	for _, v := range []struct {
		key string
		v   float64
	}{{"factor", r.Factor}, {"low_freq_factor", r.LowFreqFactor}, {"high_freq_factor", r.HighFreqFactor},
		{"original_max_position_embeddings", float64(r.OriginalMaxPositions)}} {
		if err := checkPositive("rope scaling "+v.key, v.v); err != nil {
			return err
		}
	}
	if r.HighFreqFactor <= r.LowFreqFactor {
		return fmt.Errorf("rope scaling high_freq_factor %v must be above low_freq_factor %v", r.HighFreqFactor, r.LowFreqFactor)
	}
	return nil
}

func checkPositive(key string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is %v; it must be positive and finite", key, v)
	}
	return nil
}
