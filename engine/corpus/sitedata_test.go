package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// siteData is the committed demo data (make corpus writes it).
const siteData = "../../site/data"

// TestSiteData: the demo files parse as the web app and `webpeft train`
// read them: text files are non-empty UTF-8, every JSON line has a prompt
// ending in "Label:" and a completion " spam" or " ham", both labels
// occur, no prompt is in both splits, and the licence file is there.
func TestSiteData(t *testing.T) {
	for _, name := range []string{"lincoln-train.txt", "lincoln-val.txt"} {
		b, err := os.ReadFile(filepath.Join(siteData, name))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) || Words(string(b)) < 1000 {
			t.Errorf("%s: %d words, valid UTF-8 %v", name, Words(string(b)), utf8.Valid(b))
		}
	}
	train := readSiteExamples(t, "spam-train.jsonl")
	val := readSiteExamples(t, "spam-val.jsonl")
	for p := range val {
		if train[p] {
			t.Errorf("prompt in both splits: %q", p)
		}
	}
	lic, err := os.ReadFile(filepath.Join(siteData, "LICENSE.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{SOTUPackage, SpamPackage, "Apache", "public domain"} {
		if !bytes.Contains(lic, []byte(want)) {
			t.Errorf("LICENSE.md does not mention %q", want)
		}
	}
}

// readSiteExamples checks one JSON lines file and returns its prompts.
func readSiteExamples(t *testing.T, name string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(siteData, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prompts := map[string]bool{}
	labels := map[string]int{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var e struct {
			Prompt     *string `json:"prompt"`
			Completion *string `json:"completion"`
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Prompt == nil || e.Completion == nil {
			t.Fatalf("%s:%d: want {\"prompt\", \"completion\"} (%v)", name, line, err)
		}
		if !strings.HasPrefix(*e.Prompt, "Email: ") || !strings.HasSuffix(*e.Prompt, "\nLabel:") || strings.Count(*e.Prompt, "\n") != 1 {
			t.Fatalf("%s:%d: prompt %q", name, line, *e.Prompt)
		}
		if *e.Completion != LabelSpam && *e.Completion != LabelHam {
			t.Fatalf("%s:%d: completion %q", name, line, *e.Completion)
		}
		labels[*e.Completion]++
		prompts[*e.Prompt] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if labels[LabelSpam] == 0 || labels[LabelHam] == 0 {
		t.Errorf("%s: labels %v", name, labels)
	}
	return prompts
}
