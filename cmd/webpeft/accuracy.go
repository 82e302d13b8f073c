package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"webpeft/engine/corpus"
	"webpeft/engine/model"
	"webpeft/engine/tokenizer"
)

// accuracyJSON is what `webpeft eval --metric accuracy` prints.
type accuracyJSON struct {
	Accuracy         float64 `json:"accuracy"`          // share of exact label matches
	Examples         int     `json:"examples"`          // examples evaluated
	MajorityBaseline float64 `json:"majority_baseline"` // share of the most common label
}

// accuracyEval greedily generates a completion for each example's prompt
// and counts those equal to its label. Labels are compared with their
// surrounding whitespace trimmed on both sides (" spam" matches "spam",
// so a model that drops or doubles the space after "Label:" still
// counts), and case kept. Generation stops at a newline, at EOS, or after
// as many tokens as the longest label takes, so a label followed by more
// text is a miss. Prompts longer than the context keep their end, where
// the cue is. ctx is the KV cache's length (0: the model's context, at
// most 2048). The majority baseline is the accuracy of always answering
// the most common label of these examples.
func accuracyEval(g *model.GPU, ad *model.Adapter, tok *tokenizer.Tokenizer, vocab *tokenizer.Vocab, examples []corpus.Example, ctx int) (accuracyJSON, error) {
	if len(examples) == 0 {
		return accuracyJSON{}, fmt.Errorf("accuracy: no examples")
	}
	gen, err := g.NewAdapterGenerator(ctx, ad)
	if err != nil {
		return accuracyJSON{}, err
	}
	defer gen.Free()
	opt := model.GenerateOptions{MaxTokens: labelTokens(tok, examples), Stop: []string{"\n"}, Truncate: true}
	right := 0
	for i, e := range examples {
		got, err := gen.Text(tok, vocab, e.Prompt, opt, nil)
		if err != nil {
			return accuracyJSON{}, fmt.Errorf("accuracy: example %d: %w", i+1, err)
		}
		if strings.TrimSpace(got) == strings.TrimSpace(e.Completion) {
			right++
		}
	}
	n := len(examples)
	return accuracyJSON{Accuracy: float64(right) / float64(n), Examples: n, MajorityBaseline: majorityShare(examples)}, nil
}

// labelTokens is the most tokens any label takes, encoded on its own as
// the training data encodes completions.
func labelTokens(tok *tokenizer.Tokenizer, examples []corpus.Example) int {
	most := 1
	seen := map[string]bool{}
	for _, e := range examples {
		if !seen[e.Completion] {
			seen[e.Completion] = true
			most = max(most, len(tok.Encode(e.Completion, tokenizer.EncodeOptions{})))
		}
	}
	return most
}

// majorityShare is the share of the most common (trimmed) label.
func majorityShare(examples []corpus.Example) float64 {
	counts := map[string]int{}
	most := 0
	for _, e := range examples {
		l := strings.TrimSpace(e.Completion)
		counts[l]++
		most = max(most, counts[l])
	}
	return float64(most) / float64(len(examples))
}

// readLabeled reads {"prompt", "completion"} JSON lines, naming the first
// broken line.
func readLabeled(path string) ([]corpus.Example, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []corpus.Example
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec struct {
			Prompt     *string `json:"prompt"`
			Completion *string `json:"completion"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		if rec.Prompt == nil || rec.Completion == nil || strings.TrimSpace(*rec.Completion) == "" {
			return nil, fmt.Errorf(`%s:%d: accuracy wants {"prompt": ..., "completion": <a non-empty label>}`, path, i+1)
		}
		out = append(out, corpus.Example{Prompt: *rec.Prompt, Completion: *rec.Completion})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return out, nil
}

// evalAccuracy is `webpeft eval --metric accuracy`: it reads the JSON
// lines at path, evaluates and prints accuracyJSON.
func evalAccuracy(g *model.GPU, ad *model.Adapter, tok *tokenizer.Tokenizer, vocab *tokenizer.Vocab, path string, out io.Writer) error {
	examples, err := readLabeled(path)
	if err != nil {
		return err
	}
	res, err := accuracyEval(g, ad, tok, vocab, examples, 0)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}
