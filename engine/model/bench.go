package model

import (
	"fmt"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// SmolLM2Shape is a random model shaped like SmolLM2-135M (hidden 576,
// 30 layers, 9 heads, 3 KV heads, FFN 1536, vocab 49152, tied
// embeddings), the standard benchmark model.
func SmolLM2Shape(typ tensor.Type) RandomConfig {
	return RandomConfig{Arch: Llama, Vocab: 49152, Hidden: 576, FFN: 1536, Layers: 30, Heads: 9, KVHeads: 3,
		Context: 2048, Tied: true, Type: typ, Seed: 135}
}

// ForwardBench is one measurement of the forward pass.
type ForwardBench struct {
	Model         string  `json:"model"`
	Prefill       int     `json:"prefill_tokens"` // prompt length
	PrefillTokS   float64 `json:"prefill_tokens_per_s"`
	PrefillGFLOPS float64 `json:"prefill_gflops"`
	Decode        int     `json:"decode_tokens"` // tokens generated after the prompt
	DecodeTokS    float64 `json:"decode_tokens_per_s"`
	DecodeGFLOPS  float64 `json:"decode_gflops"`
	WeightBytes   uint64  `json:"weight_bytes"`
	PeakBytes     uint64  `json:"peak_gpu_bytes"`
}

// MatmulParams is the number of weights a token multiplies through: every
// layer's matrices and the LM head (not the embedding gather).
func (c RandomConfig) MatmulParams() float64 {
	s := c.Spec()
	Q, KV := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	ffn := 2 * s.FFN * s.Hidden
	if c.Arch != GPT2 {
		ffn = 3 * s.FFN * s.Hidden
	}
	layer := s.Hidden*(Q+2*KV) + Q*s.Hidden + ffn
	return float64(s.Layers*layer + s.Vocab*s.Hidden)
}

// TokenFlops is the floating-point work of one token at position pos
// (0-based): 2 per weight, plus attention's scores and weighted sums over
// pos+1 keys in every layer.
func (c RandomConfig) TokenFlops(pos int) float64 {
	s := c.Spec()
	return 2*c.MatmulParams() + float64(4*(pos+1)*s.Heads*s.HeadDim*s.Layers)
}

// prefillFlops is the work of tokens 0..n-1.
func (c RandomConfig) prefillFlops(from, n int) float64 {
	f := 0.0
	for p := from; p < from+n; p++ {
		f += c.TokenFlops(p)
	}
	return f
}

// BenchForward loads the random model cfg on d and times the prefill of
// prefill tokens (one forward pass) and then decode greedy steps (one
// forward pass each, KV cache), after one untimed warm-up of each.
func BenchForward(d *gpu.Device, cfg RandomConfig, prefill, decode int) (ForwardBench, error) {
	d.ResetPeak()
	m, _, err := RandomModel(cfg)
	if err != nil {
		return ForwardBench{}, err
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		return ForwardBench{}, err
	}
	defer g.Free()
	gen, err := g.NewGenerator(prefill + decode + 2)
	if err != nil {
		return ForwardBench{}, err
	}
	defer gen.Free()
	prompt := tinyTokens(cfg.Vocab, prefill)
	// Warm-up: pipelines, first-use allocations.
	if _, err := gen.Tokens(prompt, GenerateOptions{MaxTokens: 2}, nil); err != nil {
		return ForwardBench{}, err
	}
	var first time.Time
	start := time.Now()
	n := 0
	_, err = gen.Tokens(prompt, GenerateOptions{MaxTokens: decode + 1}, func(int) (bool, error) {
		if n++; n == 1 {
			first = time.Now() // the prefill's token is read back
		}
		return false, nil
	})
	if err != nil {
		return ForwardBench{}, err
	}
	pre, dec := first.Sub(start).Seconds(), time.Since(first).Seconds()
	r := ForwardBench{Model: fmt.Sprintf("smollm2-135m-shape %v", cfg.Type), Prefill: prefill, Decode: decode,
		WeightBytes: g.WeightBytes, PeakBytes: d.Stats().PeakBytes}
	r.PrefillTokS = float64(prefill) / pre
	r.PrefillGFLOPS = cfg.prefillFlops(0, prefill) / pre / 1e9
	r.DecodeTokS = float64(decode) / dec
	r.DecodeGFLOPS = cfg.prefillFlops(prefill, decode) / dec / 1e9
	return r, nil
}

// BenchReference times the CPU reference forward pass of cfg on prefill
// tokens and on a single token (what a decode step costs without a KV
// cache at short context).
func BenchReference(cfg RandomConfig, prefill int) (ForwardBench, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return ForwardBench{}, err
	}
	r, err := LoadReference(m)
	if err != nil {
		return ForwardBench{}, err
	}
	res := ForwardBench{Model: fmt.Sprintf("smollm2-135m-shape %v (CPU reference)", cfg.Type), Prefill: prefill, Decode: 1}
	start := time.Now()
	if _, err := r.Forward(tinyTokens(cfg.Vocab, prefill)); err != nil {
		return res, err
	}
	sec := time.Since(start).Seconds()
	res.PrefillTokS, res.PrefillGFLOPS = float64(prefill)/sec, cfg.prefillFlops(0, prefill)/sec/1e9
	start = time.Now()
	if _, err := r.Forward(tinyTokens(cfg.Vocab, 1)); err != nil {
		return res, err
	}
	sec = time.Since(start).Seconds()
	res.DecodeTokS, res.DecodeGFLOPS = 1/sec, cfg.TokenFlops(0)/sec/1e9
	return res, nil
}

// TrainBenchSet is one of the standard training benchmarks' PEFT sets.
type TrainBenchSet struct {
	Name string
	Make func(*Spec) (*peft.Set, error)
}

// TrainBenchSets are the standard training benchmarks: LoRA r=8 on q,v,
// LoRA r=16 on every linear layer, prompt tuning with 20 tokens.
func TrainBenchSets() []TrainBenchSet {
	return []TrainBenchSet{
		{"lora-r8-qv", func(s *Spec) (*peft.Set, error) {
			return peft.NewSet(PEFTDims(s), peft.Config{Method: peft.LoRA, Rank: 8, Alpha: 16, Targets: []string{"q", "v"}})
		}},
		{"lora-r16-all", func(s *Spec) (*peft.Set, error) {
			return peft.NewSet(PEFTDims(s), peft.Config{Method: peft.LoRA, Rank: 16, Alpha: 32, Targets: peft.AllModules(PEFTDims(s))})
		}},
		{"prompt-20", func(s *Spec) (*peft.Set, error) {
			return peft.NewSet(PEFTDims(s), peft.Config{Method: peft.Prompt, VirtualTokens: 20})
		}},
	}
}

// TrainBench is one measurement of training steps.
type TrainBench struct {
	Name       string  `json:"name"`
	B, T       int     `json:"-"`
	TokensPerS float64 `json:"train_tokens_per_s"`
	GFLOPS     float64 `json:"train_gflops"`
	PeakBytes  uint64  `json:"peak_gpu_bytes"`
	Recompute  bool    `json:"recompute"`
	Ops        int     `json:"ops_per_step"` // dispatches and copies in one submit
}

// BenchTrain times steps optimizer steps (after one warm-up) of set on
// the random model cfg with B sequences of T tokens. FLOPs count 4 per
// weight per token (forward and the input-gradient products; frozen
// weights get no weight gradient) plus attention's forward and backward
// and the adapter's own.
func BenchTrain(d *gpu.Device, cfg RandomConfig, set func(*Spec) (*peft.Set, error), B, T, steps int) (TrainBench, error) {
	d.ResetPeak()
	m, _, err := RandomModel(cfg)
	if err != nil {
		return TrainBench{}, err
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		return TrainBench{}, err
	}
	defer g.Free()
	s, err := set(m.Spec)
	if err != nil {
		return TrainBench{}, err
	}
	tr, err := NewTrainer(g, s, TrainOptions{B: B, T: T, MaxGradNorm: 1})
	if err != nil {
		return TrainBench{}, err
	}
	defer tr.Free()
	if err := tr.SetParams(s.Init(1)); err != nil {
		return TrainBench{}, err
	}
	batch := tinyBatch(cfg.Vocab, B, T)
	h := AdamWHyper{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if _, err := tr.Step(batch, h, true); err != nil {
		return TrainBench{}, err
	}
	start := time.Now()
	for i := 0; i < steps; i++ {
		if _, err := tr.Step(batch, h, true); err != nil {
			return TrainBench{}, err
		}
	}
	sec := time.Since(start).Seconds() / float64(steps)
	tokens := float64(B * T)
	flops := tokens*(4*cfg.MatmulParams()+6*float64(s.Size)) + 3*attentionFlops(cfg, B, tr.S)
	return TrainBench{B: B, T: T, TokensPerS: tokens / sec, GFLOPS: flops / sec / 1e9,
		PeakBytes: d.Stats().PeakBytes, Recompute: tr.Recomputing(), Ops: len(tr.steps)}, nil
}

// attentionFlops is attention's forward work for B sequences of n tokens.
func attentionFlops(c RandomConfig, B, n int) float64 {
	s := c.Spec()
	return float64(B) * float64(2*n*(n+1)*s.Heads*s.HeadDim*s.Layers)
}
