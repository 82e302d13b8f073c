package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
	"webpeft/engine/tokenizer"
)

// PretrainConfig is the shape of a llama model trained from scratch (the
// embedded default model) and the seed of its initial weights. The LM
// head is tied to the token embedding, as in small llama models
// (SmolLM2), which saves Vocab x Hidden parameters.
type PretrainConfig struct {
	Name                                string
	Hidden, Layers, Heads, KVHeads, FFN int
	Context                             int
	Seed                                uint64
	Vocab                               int // from the tokenizer
}

// Validate checks the shape.
func (c PretrainConfig) Validate() error {
	switch {
	case c.Hidden < 8 || c.Layers < 1 || c.Heads < 1 || c.KVHeads < 1 || c.FFN < 1 || c.Context < 2:
		return fmt.Errorf("train: pretrain shape %+v: every size must be positive", c)
	case c.Hidden%c.Heads != 0 || (c.Hidden/c.Heads)%2 != 0:
		return fmt.Errorf("train: hidden %d over %d heads must give an even head size", c.Hidden, c.Heads)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("train: %d heads are not a multiple of %d KV heads", c.Heads, c.KVHeads)
	}
	return nil
}

// Params is the number of parameters of the shape.
func (c PretrainConfig) Params() int {
	C, KV := c.Hidden, c.KVHeads*(c.Hidden/c.Heads)
	layer := 2*C + C*C + 2*KV*C + C*C + 3*c.FFN*C
	return c.Vocab*C + c.Layers*layer + C
}

// NewPretrainModel makes the llama model of c with vocab as its tokenizer
// and freshly initialised F32 weights, as a model.Model reading them from
// the returned flat parameters (model.FullSet's layout), which a Trainer
// then trains in place. Initialisation is GPT-2's: matrices and the
// embedding normal(0, 0.02), the projections into the residual stream
// (attn_output, ffn_down) scaled down by sqrt(2 * layers), norms one.
func NewPretrainModel(c PretrainConfig, vocab tokenizer.Vocab) (*model.Model, *peft.Set, []float32, error) {
	c.Vocab = len(vocab.Tokens)
	if err := c.Validate(); err != nil {
		return nil, nil, nil, err
	}
	base, _, err := model.RandomModel(model.RandomConfig{Arch: model.Llama, Vocab: c.Vocab, Hidden: c.Hidden, FFN: c.FFN,
		Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads, Context: c.Context, Tied: true, Type: tensor.F32, Seed: c.Seed})
	if err != nil {
		return nil, nil, nil, err
	}
	base.Vocab = &vocab
	if c.Name != "" {
		base.Spec.Name = c.Name
	}
	set, err := model.FullSet(base.Spec)
	if err != nil {
		return nil, nil, nil, err
	}
	params := initPretrain(set, c)
	m, err := model.FullModel(base, set, params)
	return m, set, params, err
}

// initPretrain draws the initial weights, each tensor from its own seeded
// generator (so a tensor's values do not depend on the others').
func initPretrain(set *peft.Set, c PretrainConfig) []float32 {
	params := make([]float32, set.Size)
	resid := 0.02 / math.Sqrt(2*float64(c.Layers))
	for i, t := range set.Tensors {
		v := params[t.Off : t.Off+t.Len]
		if len(t.Shape) == 1 { // RMSNorm weights
			for j := range v {
				v[j] = 1
			}
			continue
		}
		std := 0.02
		if strings.HasSuffix(t.Name, "attn_output.weight") || strings.HasSuffix(t.Name, "ffn_down.weight") {
			std = resid
		}
		rng := rand.New(rand.NewPCG(c.Seed, uint64(i)+1))
		for j := range v {
			v[j] = float32(rng.NormFloat64() * std)
		}
	}
	return params
}
