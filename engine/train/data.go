// Package train turns text into training batches and runs the training
// loop around a model.Trainer: learning-rate schedules, gradient
// accumulation, validation, logging and exact checkpoints.
package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"webpeft/engine/tokenizer"
)

// Example is one training sequence: its tokens and, per token, whether
// the model is trained to predict it (the loss mask).
type Example struct {
	Tokens []int
	Loss   []bool
}

// targets counts the tokens after the first that carry loss.
func (e Example) targets() int {
	n := 0
	for i := 1; i < len(e.Tokens); i++ {
		if e.Loss[i] {
			n++
		}
	}
	return n
}

// DataOptions control how a file becomes examples.
type DataOptions struct {
	Seq       int    // tokens per training window (the trainer's T); examples hold up to Seq+1 tokens
	OnBadLine string // "error" (default) or "skip"
	// Warn receives a message per skipped line or truncated example.
	Warn func(string)
}

// Codec is what the data loader needs from a tokenizer.
type Codec struct {
	Tok          *tokenizer.Tokenizer
	Vocab        *tokenizer.Vocab
	ChatTemplate string
}

// encode tokenizes text, with BOS when the model expects it and bos is set.
func (c Codec) encode(text string, bos bool) []int {
	return c.Tok.Encode(text, tokenizer.EncodeOptions{AddBOS: bos && c.Vocab.AddBOS})
}

// Load reads training data: plain text (split into windows of Seq+1
// tokens that overlap by one, every token trained), or JSON lines (a
// .jsonl name or content starting with "{") with {"text"}, {"prompt",
// "completion"} (loss on the completion only) or {"messages"} (chat
// template, loss on assistant turns only).
func Load(r io.Reader, name string, c Codec, opt DataOptions) ([]Example, error) {
	if opt.Seq < 1 {
		return nil, fmt.Errorf("train: sequence length %d", opt.Seq)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("train: %s is empty", name)
	}
	var ex []Example
	if strings.HasSuffix(name, ".jsonl") || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		ex, err = loadJSONL(raw, name, c, opt)
	} else {
		ex = windows(c.encode(string(raw), true), nil, opt.Seq)
	}
	if err != nil {
		return nil, err
	}
	total := 0
	for _, e := range ex {
		total += e.targets()
	}
	if total == 0 {
		return nil, fmt.Errorf("train: %s has no tokens to train on (no completion or assistant tokens)", name)
	}
	return ex, nil
}

// windows splits ids (with their loss mask, nil meaning all) into
// examples of up to seq+1 tokens, consecutive ones sharing a token so that
// every token after the first is a target once.
func windows(ids []int, mask []bool, seq int) []Example {
	var out []Example
	for start := 0; start+1 < len(ids); start += seq {
		end := min(start+seq+1, len(ids))
		e := Example{Tokens: ids[start:end], Loss: make([]bool, end-start)}
		for i := range e.Loss {
			e.Loss[i] = mask == nil || mask[start+i]
		}
		out = append(out, e)
	}
	return out
}

// record is one JSON line.
type record struct {
	Text       *string             `json:"text"`
	Prompt     *string             `json:"prompt"`
	Completion *string             `json:"completion"`
	Messages   []tokenizer.Message `json:"messages"`
}

func loadJSONL(raw []byte, name string, c Codec, opt DataOptions) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		ex, err := parseLine(text, c, opt)
		if err != nil {
			err = fmt.Errorf("train: %s:%d: %w", name, line, err)
			if opt.OnBadLine != "skip" {
				return nil, err
			}
			if opt.Warn != nil {
				opt.Warn(err.Error() + " (skipped)")
			}
			continue
		}
		out = append(out, ex...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("train: %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("train: %s has no usable records", name)
	}
	return out, nil
}

func parseLine(text string, c Codec, opt DataOptions) ([]Example, error) {
	var r record
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	switch {
	case r.Text != nil:
		return windows(c.encode(*r.Text, true), nil, opt.Seq), nil
	case r.Prompt != nil && r.Completion != nil:
		return promptCompletion(*r.Prompt, *r.Completion, c, opt)
	case r.Messages != nil:
		return chat(r.Messages, c, opt)
	}
	return nil, errors.New(`want {"text"}, {"prompt", "completion"} or {"messages"}`)
}

// promptCompletion: loss on the completion (and EOS) only. A pair longer
// than Seq+1 tokens keeps the end of its prompt.
func promptCompletion(prompt, completion string, c Codec, opt DataOptions) ([]Example, error) {
	p := c.encode(prompt, true)
	comp := c.Tok.Encode(completion, tokenizer.EncodeOptions{})
	if c.Vocab.EOS >= 0 {
		comp = append(comp, c.Vocab.EOS)
	}
	if len(comp) == 0 {
		return nil, errors.New("empty completion")
	}
	if len(comp) >= opt.Seq+1 {
		return nil, fmt.Errorf("the completion alone is %d tokens, more than the sequence length %d", len(comp), opt.Seq)
	}
	if over := len(p) + len(comp) - (opt.Seq + 1); over > 0 {
		p = p[over:]
		if opt.Warn != nil {
			opt.Warn(fmt.Sprintf("a prompt lost its first %d tokens to fit %d", over, opt.Seq+1))
		}
	}
	e := Example{Tokens: append(append([]int(nil), p...), comp...)}
	e.Loss = make([]bool, len(e.Tokens))
	for i := len(p); i < len(e.Tokens); i++ {
		e.Loss[i] = true
	}
	return []Example{e}, nil
}

// chat renders messages with the model's chat template; the tokens each
// assistant message adds (the difference between the conversation up to
// it with a generation prompt and the conversation including it) carry
// the loss.
func chat(msgs []tokenizer.Message, c Codec, opt DataOptions) ([]Example, error) {
	if c.ChatTemplate == "" {
		return nil, errors.New("the model has no chat template, so {\"messages\"} records cannot be rendered")
	}
	bos, eos := tokenText(c, c.Vocab.BOS), tokenText(c, c.Vocab.EOS)
	full, err := tokenizer.RenderChat(c.ChatTemplate, msgs, false, bos, eos)
	if err != nil {
		return nil, err
	}
	ids := c.Tok.Encode(full, tokenizer.EncodeOptions{ParseSpecial: true})
	mask := make([]bool, len(ids))
	any := false
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		before, err := tokenizer.RenderChat(c.ChatTemplate, msgs[:i], true, bos, eos)
		if err != nil {
			return nil, err
		}
		upto, err := tokenizer.RenderChat(c.ChatTemplate, msgs[:i+1], false, bos, eos)
		if err != nil {
			return nil, err
		}
		a := len(c.Tok.Encode(before, tokenizer.EncodeOptions{ParseSpecial: true}))
		b := min(len(c.Tok.Encode(upto, tokenizer.EncodeOptions{ParseSpecial: true})), len(ids))
		for j := a; j < b; j++ {
			mask[j], any = true, true
		}
	}
	if !any {
		return nil, errors.New("no assistant message to train on")
	}
	return windows(ids, mask, opt.Seq), nil
}

func tokenText(c Codec, id int) string {
	if id < 0 || id >= len(c.Vocab.Tokens) {
		return ""
	}
	return c.Vocab.Tokens[id]
}
