package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"webpeft/engine/model"
	"webpeft/engine/tokenizer"
	"webpeft/engine/train"
)

// stringList is a repeatable string flag (--stop A --stop B).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// cmdGenerate continues a prompt on the GPU, streaming the text to out.
func cmdGenerate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	path := fs.String("model", "", "model file (GGUF) or Hugging Face folder")
	prompt := fs.String("prompt", "", "text to continue")
	opt := model.GenerateOptions{}
	fs.IntVar(&opt.MaxTokens, "max-tokens", model.DefaultMaxTokens, "new tokens at most")
	fs.Float64Var(&opt.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	fs.IntVar(&opt.TopK, "top-k", 0, "sample from the k most likely tokens (0: all)")
	fs.Float64Var(&opt.TopP, "top-p", 1, "sample from the most likely tokens up to this probability")
	fs.Float64Var(&opt.RepetitionPenalty, "repetition-penalty", 1, "penalty for tokens already in the text (1: none)")
	fs.Uint64Var(&opt.Seed, "seed", 0, "sampling seed")
	fs.BoolVar(&opt.Truncate, "truncate", false, "keep the end of a prompt that is longer than the context allows")
	stops := stringList{}
	fs.Var(&stops, "stop", "stop when this text appears (repeatable)")
	ctx := fs.Int("ctx", 0, "positions of the KV cache (0: the model's context, at most 2048)")
	var adapters adapterList
	fs.Var(&adapters, "adapter", adapterUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || *prompt == "" {
		return errors.New(`usage: webpeft generate --model MODEL --prompt TEXT [--adapter PATH[:WEIGHT] ...] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S] [--stop TEXT] [--truncate]`)
	}
	opt.Stop = stops
	if err := opt.Validate(); err != nil {
		return err
	}
	m, err := model.Open(*path)
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Vocab == nil {
		return fmt.Errorf("%s has no tokenizer, so it cannot take a text prompt", *path)
	}
	tok, err := tokenizer.New(*m.Vocab)
	if err != nil {
		return err
	}
	g, err := loadGPU(m)
	if err != nil {
		return err
	}
	defer g.Free()
	ad, err := loadAdapters(g, adapters)
	if err != nil {
		return err
	}
	defer ad.Free()
	gen, err := g.NewAdapterGenerator(*ctx, ad)
	if err != nil {
		return err
	}
	defer gen.Free()
	w := bufio.NewWriter(out)
	start, n := time.Now(), 0
	_, err = gen.Text(tok, m.Vocab, *prompt, opt, func(piece string) error {
		n++
		if _, err := w.WriteString(piece); err != nil {
			return err
		}
		return w.Flush()
	})
	fmt.Fprintln(w)
	w.Flush()
	fmt.Fprintf(os.Stderr, "webpeft: generated in %.1fs\n", time.Since(start).Seconds())
	return err
}

// cmdEval prints the mean next-token loss of a model over a text file.
func cmdEval(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	path := fs.String("model", "", "model file (GGUF) or Hugging Face folder")
	data := fs.String("data", "", "text file (.txt), or JSON lines (.jsonl) with \"text\" or \"prompt\"+\"completion\"")
	window := fs.Int("ctx", 512, "tokens per forward pass")
	metric := fs.String("metric", "loss", "loss (mean token loss, perplexity) or accuracy (prompt/completion JSONL: greedy label match)")
	var adapters adapterList
	fs.Var(&adapters, "adapter", adapterUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || *data == "" {
		return errors.New("usage: webpeft eval --model MODEL --data FILE [--adapter PATH[:WEIGHT] ...] [--ctx N] [--metric loss|accuracy]")
	}
	if *metric != "loss" && *metric != "accuracy" {
		return fmt.Errorf("--metric %s: want loss or accuracy", *metric)
	}
	text, err := readEvalText(*data)
	if err != nil {
		return err
	}
	m, err := model.Open(*path)
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Vocab == nil {
		return fmt.Errorf("%s has no tokenizer, so it cannot read text", *path)
	}
	tok, err := tokenizer.New(*m.Vocab)
	if err != nil {
		return err
	}
	ids := tok.Encode(text, tokenizer.EncodeOptions{AddBOS: m.Vocab.AddBOS})
	g, err := loadGPU(m)
	if err != nil {
		return err
	}
	defer g.Free()
	ad, err := loadAdapters(g, adapters)
	if err != nil {
		return err
	}
	defer ad.Free()
	if *metric == "accuracy" {
		return evalAccuracy(g, ad, tok, m.Vocab, *data, out)
	}
	res, err := g.AdapterEval(ids, *window, ad, func(done, total int) {
		fmt.Fprintf(os.Stderr, "webpeft: eval %d / %d tokens\n", done, total)
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

// readEvalText reads the text of an eval file (train.EvalText).
func readEvalText(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return train.EvalText(b, path)
}
