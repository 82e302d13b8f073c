//go:build !js

package train

import (
	"fmt"
	"testing"
	"time"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/model"
	"webpeft/engine/tokenizer"
)

// DefaultShape is the embedded default model's shape (see
// site/models/MODEL_CARD.md): a 4096-token vocabulary, 4 layers of
// hidden 256.
var DefaultShape = PretrainConfig{Hidden: 256, Layers: 4, Heads: 4, KVHeads: 2, FFN: 512, Context: 512, Seed: 1}

// byteVocab is a stand-in tokenizer of V tokens (their text does not
// matter for timing).
func byteVocab(V int) tokenizer.Vocab {
	v := tokenizer.Vocab{Model: "gpt2"}
	for i := range V {
		v.Tokens = append(v.Tokens, fmt.Sprintf("t%d", i))
	}
	return v
}

// BenchmarkPretrainStep times one full-parameter training step (sequence
// 128, batch 8) of the default model's shape on the GPU path and on the
// CPU path (the float64 reference, one core), to choose the recipe's:
//
//	go test ./engine/train -run '^$' -bench PretrainStep -benchtime 1x
func BenchmarkPretrainStep(b *testing.B) {
	const B, T = 8, 128
	m, set, params, err := NewPretrainModel(DefaultShape, byteVocab(4096))
	if err != nil {
		b.Fatal(err)
	}
	batch := model.Batch{Tokens: make([]int, B*T), Targets: make([]int, B*T)}
	for i := range batch.Tokens {
		batch.Tokens[i], batch.Targets[i] = (i*131+7)%4096, (i*131+138)%4096
	}
	flops := 6 * float64(DefaultShape.Params()) * B * T
	b.Run("gpu", func(b *testing.B) {
		d := gputest.Device(b)
		g, err := model.LoadGPU(d, m, model.LoadOptions{Full: set})
		if err != nil {
			b.Fatal(err)
		}
		defer g.Free()
		tr, err := model.NewTrainer(g, set, model.TrainOptions{B: B, T: T, MaxGradNorm: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Free()
		h := model.AdamWHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}
		if _, err := tr.Step(batch, h, true); err != nil { // warm-up
			b.Fatal(err)
		}
		start := time.Now()
		for range 3 {
			if _, err := tr.Step(batch, h, true); err != nil {
				b.Fatal(err)
			}
		}
		sec := time.Since(start).Seconds() / 3
		b.ReportMetric(sec, "s/step")
		b.ReportMetric(B*T/sec, "tok/s")
		b.ReportMetric(flops/sec/1e9, "GFLOP/s")
	})
	b.Run("cpu-reference", func(b *testing.B) {
		r, err := model.LoadReference(m)
		if err != nil {
			b.Fatal(err)
		}
		p64, g64 := make([]float64, len(params)), make([]float64, len(params))
		for i, v := range params {
			p64[i] = float64(v)
		}
		start := time.Now()
		if _, err := r.PEFTLoss(set, p64, model.PEFTBatch{B: B, T: T, Tokens: batch.Tokens, Targets: batch.Targets}, g64); err != nil {
			b.Fatal(err)
		}
		sec := time.Since(start).Seconds()
		b.ReportMetric(sec, "s/step")
		b.ReportMetric(B*T/sec, "tok/s")
		b.ReportMetric(flops/sec/1e9, "GFLOP/s")
	})
}
