package model

import (
	"fmt"
	"math/rand/v2"

	"webpeft/engine/peft"
	"webpeft/engine/tokenizer"
)

// InitPromptRows initialises prompt-tuning embeddings that start from the
// vocabulary: "vocab" copies seeded random rows of the token embedding,
// "text" the embeddings of the init text's tokens, repeated to fill the
// virtual tokens (as Hugging Face PEFT does). Other sets are left alone.
func InitPromptRows(m *Model, set *peft.Set, params []float32, seed uint64) error {
	c, ok := set.Config(peft.Prompt)
	if !ok || c.PromptInit == "random" {
		return nil
	}
	t, _ := set.Tensor("prompt.embeddings")
	var ids []int
	switch c.PromptInit {
	case "vocab":
		rng := rand.New(rand.NewPCG(seed, 0x70c))
		for range c.VirtualTokens {
			ids = append(ids, rng.IntN(m.Spec.Vocab))
		}
	case "text":
		if m.Vocab == nil {
			return fmt.Errorf("model: prompt init from text needs the model's tokenizer")
		}
		tok, err := tokenizer.New(*m.Vocab)
		if err != nil {
			return err
		}
		text := tok.Encode(c.InitText, tokenizer.EncodeOptions{})
		if len(text) == 0 {
			return fmt.Errorf("model: prompt init text %q has no tokens", c.InitText)
		}
		for i := range c.VirtualTokens {
			ids = append(ids, text[i%len(text)])
		}
	}
	C := m.Spec.Hidden
	for i, id := range ids {
		row, err := m.ReadF32("token_embd.weight", id, 1)
		if err != nil {
			return err
		}
		copy(params[t.Off+i*C:t.Off+(i+1)*C], row)
	}
	return nil
}
