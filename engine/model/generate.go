package model

import (
	"errors"
	"fmt"
	"strings"

	"webpeft/engine/tokenizer"
)

// GenerateOptions control generation; the zero value generates up to
// DefaultMaxTokens tokens greedily, stopping at EOS.
type GenerateOptions struct {
	SampleOptions
	MaxTokens int      // new tokens at most; 0 means DefaultMaxTokens
	Stop      []string // stop when the text produced contains one of these (text generation only)
	EOS       []int    // stop after any of these tokens (it is not returned)
	// Truncate keeps the last tokens of a prompt that does not fit the
	// context with MaxTokens new ones; without it such a prompt is refused.
	Truncate bool
}

// DefaultMaxTokens is the default number of new tokens.
const DefaultMaxTokens = 128

// ErrPromptTooLong is returned (wrapped) for a prompt that leaves no room
// for MaxTokens new tokens when Truncate is off.
var ErrPromptTooLong = errors.New("prompt too long")

// Generator generates one sequence at a time with a KV cache: the prompt
// in one forward pass (prefill), then one token per forward pass (decode),
// each one submit.
type Generator struct {
	g      *GPU
	cache  *Cache
	decode *Program
	ad     *Adapter // nil: the base model
	// observe, when set (tests), sees each step's program after it ran.
	observe func(*Program)
}

// NewGenerator allocates a KV cache of S positions (0: the most the
// engine runs for the model) and records the decode step.
func (g *GPU) NewGenerator(S int) (*Generator, error) { return g.NewAdapterGenerator(S, nil) }

// NewAdapterGenerator is NewGenerator with adapter ad applied (nil: none).
// Its prompt-tuning and prefix tokens take positions of the cache.
func (g *GPU) NewAdapterGenerator(S int, ad *Adapter) (*Generator, error) {
	if S <= 0 {
		S = g.MaxPositions()
	}
	c, err := g.NewCache(1, S)
	if err != nil {
		return nil, err
	}
	dec, err := g.NewAdapterProgram(c, 1, LastLogits, ad, false)
	if err != nil {
		c.Free()
		return nil, err
	}
	return &Generator{g: g, cache: c, decode: dec, ad: ad}, nil
}

// reserved is the number of cache positions the adapter's prefix and
// prompt-tuning rows take.
func (gen *Generator) reserved() int { return gen.ad.prefix() + gen.ad.virtual() }

// Free releases the cache and the decode program.
func (gen *Generator) Free() {
	gen.decode.Free()
	gen.cache.Free()
}

// Positions is the cache's length: prompt plus new tokens at most.
func (gen *Generator) Positions() int { return gen.cache.S }

// fit checks (or, with Truncate, shortens) a prompt so that it leaves room
// for max new tokens.
func (gen *Generator) fit(prompt []int, max int, truncate bool) ([]int, error) {
	S := gen.cache.S - gen.reserved()
	if len(prompt) == 0 {
		return nil, errors.New("model: generate: empty prompt")
	}
	if max >= S {
		return nil, fmt.Errorf("model: generate: %d new tokens do not fit the context of %d positions", max, S)
	}
	if len(prompt)+max <= S {
		return prompt, nil
	}
	if !truncate {
		return nil, fmt.Errorf("model: generate: %w: %d prompt tokens + %d new tokens are more than the context of %d positions (shorten it, lower the new tokens, or truncate)", ErrPromptTooLong, len(prompt), max, S)
	}
	return prompt[len(prompt)-(S-max):], nil
}

// Tokens generates after prompt and returns the new tokens. onToken, when
// set, sees each new token as it comes and may end generation early by
// returning stop.
func (gen *Generator) Tokens(prompt []int, opt GenerateOptions, onToken func(id int) (stop bool, err error)) ([]int, error) {
	max := opt.MaxTokens
	if max <= 0 {
		max = DefaultMaxTokens
	}
	sampler, err := NewSampler(opt.SampleOptions)
	if err != nil {
		return nil, err
	}
	prompt, err = gen.fit(prompt, max, opt.Truncate)
	if err != nil {
		return nil, err
	}
	prefill, err := gen.g.NewAdapterProgram(gen.cache, gen.ad.virtual()+len(prompt), LastLogits, gen.ad, true)
	if err != nil {
		return nil, err
	}
	defer prefill.Free()
	context := append([]int(nil), prompt...)
	var out []int
	step, pos0, input := prefill, gen.ad.prefix(), prompt
	for len(out) < max {
		if err := step.Run(input, pos0, nil); err != nil {
			return out, err
		}
		if gen.observe != nil {
			gen.observe(step)
		}
		id, err := gen.next(step, sampler, opt.SampleOptions, context)
		if err != nil {
			return out, err
		}
		if contains(opt.EOS, id) {
			break
		}
		out, context = append(out, id), append(context, id)
		if onToken != nil {
			stop, err := onToken(id)
			if err != nil || stop {
				return out, err
			}
		}
		step, pos0, input = gen.decode, gen.reserved()+len(context)-1, []int{id}
	}
	return out, nil
}

// next reads the step's result: the GPU's argmax for plain greedy
// decoding, otherwise the logits row for the sampler.
func (gen *Generator) next(p *Program, s *Sampler, opt SampleOptions, context []int) (int, error) {
	if !opt.needsLogits() {
		ids, err := p.Argmax()
		if err != nil {
			return 0, err
		}
		return ids[0], nil
	}
	rows, err := p.Logits()
	if err != nil {
		return 0, err
	}
	return s.Sample(rows[0], context), nil
}

func contains(ids []int, id int) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Text generates a continuation of prompt with tok, streaming text pieces
// to onText as they become final (text that may still turn into a stop
// string is held back), and returns the whole continuation. EOS defaults to
// the vocabulary's.
func (gen *Generator) Text(tok *tokenizer.Tokenizer, vocab *tokenizer.Vocab, prompt string, opt GenerateOptions, onText func(string) error) (string, error) {
	ids := tok.Encode(prompt, tokenizer.EncodeOptions{AddBOS: vocab.AddBOS})
	if opt.EOS == nil && vocab.EOS >= 0 {
		opt.EOS = []int{vocab.EOS}
	}
	st := &stopText{stops: opt.Stop, emit: onText}
	dec := tok.NewContinuationDecoder()
	_, err := gen.Tokens(ids, opt, func(id int) (bool, error) {
		return st.push(dec.Push(id))
	})
	if err != nil {
		return st.text.String(), err
	}
	if !st.stopped {
		if _, err := st.push(dec.Flush()); err != nil {
			return st.text.String(), err
		}
	}
	return st.text.String(), st.flush()
}

// stopText accumulates generated text, cuts it at the first stop string,
// and streams what can no longer become part of one.
type stopText struct {
	stops   []string
	emit    func(string) error
	text    strings.Builder // the final text so far
	pending string          // text that could still start a stop string
	stopped bool
}

func (s *stopText) push(piece string) (stop bool, err error) {
	s.pending += piece
	for _, st := range s.stops {
		if st == "" {
			continue
		}
		if i := strings.Index(s.pending, st); i >= 0 {
			s.pending = s.pending[:i]
			s.stopped = true
			return true, s.flush()
		}
	}
	keep := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(s.pending)); n > keep; n-- {
			if strings.HasSuffix(s.pending, st[:n]) {
				keep = n
				break
			}
		}
	}
	out := s.pending[:len(s.pending)-keep]
	s.pending = s.pending[len(s.pending)-keep:]
	return false, s.send(out)
}

func (s *stopText) flush() error {
	out := s.pending
	s.pending = ""
	return s.send(out)
}

func (s *stopText) send(out string) error {
	if out == "" {
		return nil
	}
	s.text.WriteString(out)
	if s.emit != nil {
		return s.emit(out)
	}
	return nil
}
