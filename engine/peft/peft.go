// Package peft describes the parameter-efficient fine-tuning methods
// webpeft trains — LoRA, prompt tuning, prefix tuning, IA3 and bottleneck
// adapters — as configurations and as a layout of their trainable
// tensors in one flat f32 buffer (so one AdamW dispatch and one gradient
// norm cover all of them). It knows a model only by its dimensions (Dims);
// engine/model applies the methods inside its forward and backward
// programs.
package peft

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Methods.
const (
	LoRA    = "lora"
	Prompt  = "prompt"
	Prefix  = "prefix"
	IA3     = "ia3"
	Adapter = "adapter"

	// Full is not a PEFT method: a set with it holds every weight of the
	// base model (model.FullSet), for full-parameter (pre-)training.
	Full = "full"
)

// Methods lists the methods in the order they are applied.
var Methods = []string{LoRA, Prompt, Prefix, IA3, Adapter}

// Modules a LoRA may target: the linear layers of a transformer block in
// llama naming. gpt2's fused c_attn is trained as separate q, k and v
// LoRAs (exported to Hugging Face as one c_attn LoRA of rank 3r with A
// stacked and B block-diagonal, which is exact); its attn c_proj is o,
// c_fc is up, mlp c_proj is down.
var Modules = []string{"q", "k", "v", "o", "gate", "up", "down"}

// AllModules is every module of Modules the model has (no gate without a
// gated FFN): LoRA on all linear layers.
func AllModules(d Dims) []string {
	var ms []string
	for _, m := range Modules {
		if m != "gate" || d.Gated {
			ms = append(ms, m)
		}
	}
	return ms
}

// Config is one method with its hyper-parameters. Zero fields take the
// method's defaults (Defaults).
type Config struct {
	Method string

	// LoRA: y += (alpha/r) * B(A(dropout(x))), or alpha/sqrt(r) with RSLoRA.
	Rank    int
	Alpha   float64
	Dropout float64
	RSLoRA  bool
	Targets []string // subset of Modules

	// Prompt and prefix tuning.
	VirtualTokens int
	PromptInit    string // prompt tuning: "random" (default), "vocab" (random vocabulary rows) or "text"
	InitText      string // for PromptInit "text"
	// Prefix tuning through PEFT's reparameterisation (prefix_projection):
	// the prefixes are tanh MLP outputs of a (P, KV) embedding,
	// Linear(KV, EncoderHidden) -> tanh -> Linear(EncoderHidden, L*2*KV).
	PrefixProjection bool
	EncoderHidden    int // default: the model's hidden size

	// Bottleneck adapters.
	Bottleneck  int
	AdapterType string // "pfeiffer" (after the FFN, default) or "houlsby" (after attention and after the FFN)
	AdapterAct  string // "relu" (default) or "gelu"
}

// Defaults returns method's configuration with defaults that work out of
// the box on small models.
func Defaults(method string) Config {
	c := Config{Method: method}
	switch method {
	case LoRA:
		c.Rank, c.Alpha, c.Targets = 8, 16, []string{"q", "v"}
	case Prompt:
		c.VirtualTokens, c.PromptInit = 20, "random"
	case Prefix:
		c.VirtualTokens = 20
	case Adapter:
		c.Bottleneck, c.AdapterType, c.AdapterAct = 16, "pfeiffer", "relu"
	}
	return c
}

// withDefaults fills zero fields from Defaults (hidden: the model's
// hidden size, the default prefix encoder width).
func (c Config) withDefaults(hidden int) Config {
	d := Defaults(c.Method)
	if c.Rank == 0 {
		c.Rank = d.Rank
	}
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.Targets == nil {
		c.Targets = d.Targets
	}
	if c.VirtualTokens == 0 {
		c.VirtualTokens = d.VirtualTokens
	}
	if c.PromptInit == "" {
		c.PromptInit = d.PromptInit
	}
	if c.Bottleneck == 0 {
		c.Bottleneck = d.Bottleneck
	}
	if c.Method == Prefix && c.PrefixProjection && c.EncoderHidden == 0 {
		c.EncoderHidden = hidden
	}
	if c.AdapterType == "" {
		c.AdapterType = d.AdapterType
	}
	if c.AdapterAct == "" {
		c.AdapterAct = d.AdapterAct
	}
	return c
}

// Scale is LoRA's output scale: alpha/r, or alpha/sqrt(r) with rsLoRA.
func (c Config) Scale() float64 {
	if c.RSLoRA {
		return c.Alpha / math.Sqrt(float64(c.Rank))
	}
	return c.Alpha / float64(c.Rank)
}

// Validate checks a configuration (after defaults) against the model.
func (c Config) Validate(d Dims) error {
	switch c.Method {
	case LoRA:
		if c.Rank < 1 || c.Rank > min(d.Hidden, 1024) {
			return fmt.Errorf("peft: lora rank %d: want 1..%d", c.Rank, min(d.Hidden, 1024))
		}
		if !(c.Dropout >= 0 && c.Dropout < 1) {
			return fmt.Errorf("peft: lora dropout %v: want [0, 1)", c.Dropout)
		}
		if len(c.Targets) == 0 {
			return fmt.Errorf("peft: lora needs target modules (some of %v)", Modules)
		}
		for _, t := range c.Targets {
			if !slices.Contains(Modules, t) {
				return fmt.Errorf("peft: lora target %q: want some of %v", t, Modules)
			}
			if t == "gate" && !d.Gated {
				return fmt.Errorf("peft: lora target gate: this model has no gated FFN")
			}
		}
	case Prompt, Prefix:
		if c.VirtualTokens < 1 || c.VirtualTokens > 512 {
			return fmt.Errorf("peft: %s: %d virtual tokens: want 1..512", c.Method, c.VirtualTokens)
		}
		if c.Method == Prompt && !slices.Contains([]string{"random", "vocab", "text"}, c.PromptInit) {
			return fmt.Errorf("peft: prompt init %q: want random, vocab or text", c.PromptInit)
		}
		if c.Method == Prompt && c.PromptInit == "text" && strings.TrimSpace(c.InitText) == "" {
			return fmt.Errorf("peft: prompt init text is empty")
		}
		if c.Method == Prefix && c.PrefixProjection && (c.EncoderHidden < 1 || c.EncoderHidden > 16384) {
			return fmt.Errorf("peft: prefix encoder hidden size %d: want 1..16384", c.EncoderHidden)
		}
	case IA3:
	case Adapter:
		if c.Bottleneck < 1 || c.Bottleneck > d.Hidden {
			return fmt.Errorf("peft: adapter bottleneck %d: want 1..%d", c.Bottleneck, d.Hidden)
		}
		if c.AdapterType != "pfeiffer" && c.AdapterType != "houlsby" {
			return fmt.Errorf("peft: adapter type %q: want pfeiffer or houlsby", c.AdapterType)
		}
		if c.AdapterAct != "relu" && c.AdapterAct != "gelu" {
			return fmt.Errorf("peft: adapter activation %q: want relu or gelu", c.AdapterAct)
		}
	default:
		return fmt.Errorf("peft: unknown method %q (want one of %v)", c.Method, Methods)
	}
	return nil
}

// Dims are the model dimensions the methods' shapes depend on.
type Dims struct {
	Vocab, Hidden, Layers int
	Q, KV, FFN            int  // output widths of q, k/v and the FFN up projection
	Gated                 bool // SiLU-gated FFN (llama, qwen2)
	FusedQKV              bool // gpt2: IA3 scales q too, as PEFT does for c_attn
}

// InOut returns a module's input and output widths.
func (d Dims) InOut(module string) (in, out int) {
	switch module {
	case "q":
		return d.Hidden, d.Q
	case "k", "v":
		return d.Hidden, d.KV
	case "o":
		return d.Q, d.Hidden
	case "gate", "up":
		return d.Hidden, d.FFN
	default: // down
		return d.FFN, d.Hidden
	}
}

// Tensor is one trainable tensor in the flat parameter buffer: Off and
// Len in float32s, Off a multiple of Align so that every tensor can be
// bound as a 256-byte-aligned view.
type Tensor struct {
	Name     string // e.g. "blk.3.lora_q.a"
	Shape    []int  // row-major, slowest first
	Off, Len int
}

// Align is the float32 alignment of tensors in the flat buffer (256 bytes).
const Align = 64

// Set is the methods attached to one model and the layout of their
// tensors.
type Set struct {
	Dims    Dims
	Configs []Config
	Tensors []Tensor
	Size    int // float32s in the flat buffer
}

// NewSet lays out the tensors of the given methods (at most one of each).
func NewSet(d Dims, configs ...Config) (*Set, error) {
	s := &Set{Dims: d}
	seen := map[string]bool{}
	for _, c := range configs {
		c = c.withDefaults(d.Hidden)
		if err := c.Validate(d); err != nil {
			return nil, err
		}
		if seen[c.Method] {
			return nil, fmt.Errorf("peft: %s attached twice", c.Method)
		}
		seen[c.Method] = true
		s.Configs = append(s.Configs, c)
	}
	if len(s.Configs) == 0 {
		return nil, fmt.Errorf("peft: no method")
	}
	for _, c := range s.Configs {
		s.layout(c)
	}
	return s, nil
}

func (s *Set) add(name string, shape ...int) {
	n := 1
	for _, x := range shape {
		n *= x
	}
	s.Tensors = append(s.Tensors, Tensor{Name: name, Shape: shape, Off: s.Size, Len: n})
	s.Size += (n + Align - 1) / Align * Align
}

func (s *Set) layout(c Config) {
	d := s.Dims
	switch c.Method {
	case Prompt:
		s.add("prompt.embeddings", c.VirtualTokens, d.Hidden)
		return
	case Prefix:
		if c.PrefixProjection {
			s.add("prefix.embedding", c.VirtualTokens, d.KV)
			s.add("prefix.w1", c.EncoderHidden, d.KV)
			s.add("prefix.b1", c.EncoderHidden)
			s.add("prefix.w2", d.Layers*2*d.KV, c.EncoderHidden)
			s.add("prefix.b2", d.Layers*2*d.KV)
			return
		}
		for l := 0; l < d.Layers; l++ {
			s.add(fmt.Sprintf("blk.%d.prefix.k", l), c.VirtualTokens, d.KV)
			s.add(fmt.Sprintf("blk.%d.prefix.v", l), c.VirtualTokens, d.KV)
		}
		return
	}
	for l := 0; l < d.Layers; l++ {
		blk := func(n string) string { return fmt.Sprintf("blk.%d.%s", l, n) }
		switch c.Method {
		case LoRA:
			for _, m := range Modules {
				if slices.Contains(c.Targets, m) {
					in, out := d.InOut(m)
					s.add(blk("lora_"+m+".a"), c.Rank, in)
					s.add(blk("lora_"+m+".b"), out, c.Rank)
				}
			}
		case IA3:
			if d.FusedQKV {
				s.add(blk("ia3.q"), d.Q)
			}
			s.add(blk("ia3.k"), d.KV)
			s.add(blk("ia3.v"), d.KV)
			s.add(blk("ia3.ffn"), d.FFN)
		case Adapter:
			places := []string{"ffn"}
			if c.AdapterType == "houlsby" {
				places = []string{"attn", "ffn"}
			}
			for _, p := range places {
				s.add(blk("adapter_"+p+".down"), c.Bottleneck, d.Hidden)
				s.add(blk("adapter_"+p+".down_bias"), c.Bottleneck)
				s.add(blk("adapter_"+p+".up"), d.Hidden, c.Bottleneck)
				s.add(blk("adapter_"+p+".up_bias"), d.Hidden)
			}
		}
	}
}

// Tensor returns the named tensor.
func (s *Set) Tensor(name string) (Tensor, bool) {
	for _, t := range s.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Config returns the configuration of method, if attached.
func (s *Set) Config(method string) (Config, bool) {
	for _, c := range s.Configs {
		if c.Method == method {
			return c, true
		}
	}
	return Config{}, false
}

// VirtualTokens is the number of prompt-tuning tokens prepended to every
// sequence (0 without prompt tuning).
func (s *Set) VirtualTokens() int {
	c, ok := s.Config(Prompt)
	if !ok {
		return 0
	}
	return c.VirtualTokens
}

// PrefixTokens is the number of prefix key/value slots per layer (0
// without prefix tuning).
func (s *Set) PrefixTokens() int {
	c, ok := s.Config(Prefix)
	if !ok {
		return 0
	}
	return c.VirtualTokens
}

// Init returns the initial flat parameters, seeded: LoRA A as PyTorch's
// kaiming_uniform_(a=sqrt(5)) (uniform in +-1/sqrt(in)) and B zero; IA3
// ones; adapters' down projections uniform in +-1/sqrt(in), their up
// projections and biases zero; prefixes normal(0, 1) like nn.Embedding;
// the prefix encoder's linear layers as nn.Linear (weights and biases
// uniform in +-1/sqrt(in));
// prompt embeddings normal(0, 1) ("random"). Prompt "vocab" and "text"
// initialisation copy embedding rows, which the caller does (InitPromptRows).
func (s *Set) Init(seed uint64) []float32 {
	p := make([]float32, s.Size)
	rng := rand.New(rand.NewPCG(seed, 0x9eff))
	for _, t := range s.Tensors {
		v := p[t.Off : t.Off+t.Len]
		switch {
		case strings.HasSuffix(t.Name, ".a") || strings.HasSuffix(t.Name, ".down") ||
			t.Name == "prefix.w1" || t.Name == "prefix.w2":
			bound := 1 / math.Sqrt(float64(t.Shape[1]))
			for i := range v {
				v[i] = float32((2*rng.Float64() - 1) * bound)
			}
		case t.Name == "prefix.b1" || t.Name == "prefix.b2":
			w, _ := s.Tensor("prefix.w" + t.Name[len(t.Name)-1:])
			bound := 1 / math.Sqrt(float64(w.Shape[1]))
			for i := range v {
				v[i] = float32((2*rng.Float64() - 1) * bound)
			}
		case strings.Contains(t.Name, "ia3."):
			for i := range v {
				v[i] = 1
			}
		case strings.HasPrefix(t.Name, "prompt.") || strings.Contains(t.Name, ".prefix.") || t.Name == "prefix.embedding":
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
	}
	return p
}
