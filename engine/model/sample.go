package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SampleOptions choose the next token from a row of logits. The zero
// value is greedy decoding.
type SampleOptions struct {
	// Temperature divides the logits; 0 (or less) picks the most likely
	// token (greedy).
	Temperature float64
	// TopK keeps only the k most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches p (nucleus sampling); 0 or 1 keeps all.
	TopP float64
	// RepetitionPenalty divides positive logits (multiplies negative ones)
	// of tokens already in the context, as Hugging Face does; 0 or 1 is
	// none.
	RepetitionPenalty float64
	// Seed seeds the sampler.
	Seed uint64
}

// Validate checks the options' ranges.
func (o SampleOptions) Validate() error {
	switch {
	case o.Temperature < 0 || math.IsNaN(o.Temperature):
		return fmt.Errorf("temperature %v: it must be >= 0 (0 is greedy)", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("top-k %d: it must be >= 0 (0 keeps all)", o.TopK)
	case o.TopP < 0 || o.TopP > 1 || math.IsNaN(o.TopP):
		return fmt.Errorf("top-p %v: it must be in [0, 1]", o.TopP)
	case o.RepetitionPenalty < 0 || math.IsNaN(o.RepetitionPenalty):
		return fmt.Errorf("repetition penalty %v: it must be >= 0 (1 is none)", o.RepetitionPenalty)
	}
	return nil
}

// needsLogits reports whether sampling reads the logits; greedy decoding
// without a penalty needs only the GPU's argmax.
func (o SampleOptions) needsLogits() bool {
	return o.Temperature > 0 || (o.RepetitionPenalty != 0 && o.RepetitionPenalty != 1)
}

// Sampler picks tokens with SampleOptions and its own seeded generator.
type Sampler struct {
	opt SampleOptions
	rng *rand.Rand
}

// NewSampler makes a sampler.
func NewSampler(opt SampleOptions) (*Sampler, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0x5a3f1e))}, nil
}

// Sample returns the next token for a row of logits (modified in place by
// the repetition penalty) given the context so far.
func (s *Sampler) Sample(logits []float32, context []int) int {
	o := s.opt
	if o.RepetitionPenalty != 0 && o.RepetitionPenalty != 1 {
		penalize(logits, context, float32(o.RepetitionPenalty))
	}
	if o.Temperature <= 0 {
		return argmax(logits)
	}
	cand := candidates(logits, o.TopK)
	probs := softmaxScaled(logits, cand, o.Temperature)
	if o.TopP > 0 && o.TopP < 1 {
		cand, probs = nucleus(cand, probs, o.TopP)
	}
	r := s.rng.Float64() * sum(probs)
	for i, p := range probs {
		if r -= p; r < 0 {
			return cand[i]
		}
	}
	return cand[len(cand)-1]
}

func penalize(logits []float32, context []int, p float32) {
	seen := map[int]bool{}
	for _, id := range context {
		if id < 0 || id >= len(logits) || seen[id] {
			continue
		}
		seen[id] = true
		if logits[id] > 0 {
			logits[id] /= p
		} else {
			logits[id] *= p
		}
	}
}

// argmax returns the index of the largest value, the lowest on ties (as
// the GPU's vocab kernels do).
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// candidates returns token ids sorted by decreasing logit (ties by id),
// the first k of them when k > 0.
func candidates(logits []float32, k int) []int {
	ids := make([]int, len(logits))
	for i := range ids {
		ids[i] = i
	}
	slices.SortStableFunc(ids, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	if k > 0 && k < len(ids) {
		ids = ids[:k]
	}
	return ids
}

// softmaxScaled returns softmax(logits[cand] / t) in float64.
func softmaxScaled(logits []float32, cand []int, t float64) []float64 {
	p := make([]float64, len(cand))
	top := float64(logits[cand[0]]) / t
	for i, id := range cand {
		p[i] = math.Exp(float64(logits[id])/t - top)
	}
	total := sum(p)
	for i := range p {
		p[i] /= total
	}
	return p
}

// nucleus keeps the shortest prefix of cand (sorted by probability) whose
// probabilities sum to at least topP.
func nucleus(cand []int, probs []float64, topP float64) ([]int, []float64) {
	acc := 0.0
	for i, p := range probs {
		acc += p
		if acc >= topP {
			return cand[:i+1], probs[:i+1]
		}
	}
	return cand, probs
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}
