package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"webpeft/engine/model"
)

// logitsJSON is the output of `webpeft logits`, the format of the
// testdata's X.logits.json.
type logitsJSON struct {
	NVocab int         `json:"n_vocab"`
	Logits [][]float32 `json:"logits"`
}

// cmdLogits runs the forward pass over a token sequence at positions
// 0..T-1. Only the CPU reference exists so far (--device cpu); the WebGPU
// forward pass is the next piece of work.
func cmdLogits(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("logits", flag.ContinueOnError)
	path := fs.String("model", "", "model file (GGUF) or Hugging Face folder")
	tokens := fs.String("tokens", "", `token ids, e.g. "1 2 3"`)
	all := fs.Bool("all", false, "print one row per position, not only the last")
	device := fs.String("device", "cpu", "where to run: cpu (the pure-Go reference)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || *tokens == "" {
		return errors.New(`usage: webpeft logits --model MODEL --tokens "1 2 3" [--all] [--device cpu]`)
	}
	if *device != "cpu" {
		return fmt.Errorf("--device %s: only the CPU reference (--device cpu) can compute logits so far", *device)
	}
	m, err := model.Open(*path)
	if err != nil {
		return err
	}
	defer m.Close()
	ids, err := parseIDs(*tokens, m.Spec.Vocab)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("--tokens holds no token ids")
	}
	if m.Spec.Context > 0 && len(ids) > m.Spec.Context {
		return fmt.Errorf("%d tokens are more than the model's context of %d", len(ids), m.Spec.Context)
	}
	fmt.Fprintf(os.Stderr, "webpeft: %d tokens through %s on the CPU reference\n", len(ids), m.Spec.Arch)
	rows, err := model.ReferenceLogits(m, ids)
	if err != nil {
		return err
	}
	if !*all {
		rows = rows[len(rows)-1:]
	}
	return json.NewEncoder(out).Encode(logitsJSON{NVocab: m.Spec.Vocab, Logits: rows})
}
