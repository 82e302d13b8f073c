package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"webpeft/engine/corpus"
	"webpeft/engine/tokenizer"
)

// fileList is a repeatable flag (--data A --data B).
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// tokenizerTrainJSON is what tokenizer-train prints.
type tokenizerTrainJSON struct {
	Out          string         `json:"out"`
	VocabSize    int            `json:"vocab_size"`
	Merges       int            `json:"merges"`
	Words        int64          `json:"words"`        // pre-tokenizer words of the data
	UniqueWords  int            `json:"unique_words"` // distinct ones
	TrainSeconds float64        `json:"train_seconds"`
	Check        []encodedStats `json:"check,omitempty"` // --check: the data and --eval files encoded
}

// encodedStats describes one file encoded with the trained vocabulary.
type encodedStats struct {
	File          string  `json:"file"`
	Words         int     `json:"words"` // whitespace-separated
	Tokens        int     `json:"tokens"`
	TokensPerWord float64 `json:"tokens_per_word"`
	RoundTrip     bool    `json:"round_trip"` // decode(encode(text)) == text
}

// cmdTokenizerTrain learns a byte-level BPE vocabulary from text files
// and writes it as a Hugging Face tokenizer.json.
func cmdTokenizerTrain(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tokenizer-train", flag.ContinueOnError)
	var data, specials fileList
	fs.Var(&data, "data", "training text file (repeatable)")
	opt := tokenizer.TrainOptions{}
	fs.IntVar(&opt.VocabSize, "vocab", 4096, "tokens in all: special, 256 byte and merged tokens")
	fs.IntVar(&opt.MinFrequency, "min-frequency", 2, "occurrences a pair needs to be merged")
	fs.StringVar(&opt.Pre, "pre", "gpt-2", "pre-tokenizer (tokenizer.ggml.pre of a byte-level family)")
	fs.Var(&specials, "special", "special (control) token, ids 0, 1, ...; the first is BOS and EOS (repeatable; default <|endoftext|>)")
	noBOS := fs.Bool("no-bos", false, "do not ask for BOS before every text")
	path := fs.String("out", "", "tokenizer.json to write")
	var eval fileList
	fs.Var(&eval, "eval", "held-out text file to report tokens per word on (repeatable)")
	check := fs.Bool("check", true, "encode the data and --eval files: tokens per word, and decode(encode(text)) == text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(data) == 0 || *path == "" || fs.NArg() > 0 {
		return errors.New("usage: webpeft tokenizer-train --data FILE [--data FILE ...] --out tokenizer.json [--vocab 4096] [--min-frequency 2] [--special TOKEN ...] [--no-bos] [--eval FILE ...]")
	}
	if len(specials) > 0 {
		opt.Specials = specials
	}
	opt.AddBOS = !*noBOS
	texts, err := readTexts(data)
	if err != nil {
		return err
	}
	res, v, err := trainTokenizer(texts, opt)
	if err != nil {
		return err
	}
	js, err := tokenizer.ToTokenizerJSON(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*path, js, 0o644); err != nil {
		return err
	}
	res.Out = *path
	if *check {
		evalTexts, err := readTexts(eval)
		if err != nil {
			return err
		}
		if res.Check, err = checkTokenizer(v, append(data, eval...), append(texts, evalTexts...)); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func readTexts(paths []string) ([]string, error) {
	texts := make([]string, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w (make corpus writes the training text)", err)
		}
		texts[i] = string(b)
	}
	return texts, nil
}

// trainTokenizer trains on texts, each pre-tokenized on its own.
func trainTokenizer(texts []string, opt tokenizer.TrainOptions) (tokenizerTrainJSON, tokenizer.Vocab, error) {
	start := time.Now()
	tr, err := tokenizer.NewBPETrainer(opt)
	if err != nil {
		return tokenizerTrainJSON{}, tokenizer.Vocab{}, err
	}
	for _, t := range texts {
		tr.Add(t)
	}
	v, err := tr.Train()
	if err != nil {
		return tokenizerTrainJSON{}, tokenizer.Vocab{}, err
	}
	words, unique := tr.Words()
	res := tokenizerTrainJSON{VocabSize: len(v.Tokens), Merges: len(v.Merges), Words: words, UniqueWords: unique,
		TrainSeconds: time.Since(start).Seconds()}
	return res, v, nil
}

// checkTokenizer encodes each text with the trained vocabulary, counts
// tokens per word and wants every valid UTF-8 text to decode back to
// itself (Decode turns bytes that are not UTF-8 into U+FFFD, so other
// texts cannot).
func checkTokenizer(v tokenizer.Vocab, names, texts []string) ([]encodedStats, error) {
	tok, err := tokenizer.New(v)
	if err != nil {
		return nil, err
	}
	var stats []encodedStats
	var bad []string
	for i, t := range texts {
		ids := tok.Encode(t, tokenizer.EncodeOptions{})
		st := encodedStats{File: names[i], Words: corpus.Words(t), Tokens: len(ids)}
		st.RoundTrip = !utf8.ValidString(t) || tok.Decode(ids) == t
		if st.Words > 0 {
			st.TokensPerWord = float64(st.Tokens) / float64(st.Words)
		}
		if !st.RoundTrip {
			bad = append(bad, names[i])
		}
		stats = append(stats, st)
	}
	if len(bad) > 0 {
		return stats, fmt.Errorf("tokenizer-train: %s did not decode back to itself", strings.Join(bad, ", "))
	}
	return stats, nil
}
