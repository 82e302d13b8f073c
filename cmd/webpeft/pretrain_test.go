package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webpeft/engine/model"
	"webpeft/engine/tokenizer"
)

// pretrainText is a few sentences repeated: enough for a smoke run to
// learn from.
var pretrainText = strings.Repeat("the people of the united states are the source of the power of the government. "+
	"we hold these truths to be self evident, that all men are created equal. ", 40)

// writeTinyTokenizer trains a 300-token byte-level BPE on text into dir.
func writeTinyTokenizer(t *testing.T, dir, text string) string {
	t.Helper()
	tr, err := tokenizer.NewBPETrainer(tokenizer.TrainOptions{VocabSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	tr.Add(text)
	v, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	tj, err := tokenizer.ToTokenizerJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path, tj, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPretrainSmoke pre-trains a tiny llama for a few steps, interrupts
// nothing but resumes to more steps, and checks the loss falls and the
// written GGUFs load with the tokenizer.
func TestPretrainSmoke(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte(pretrainText), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := writeTinyTokenizer(t, dir, pretrainText)
	out := filepath.Join(dir, "run")
	args := []string{"pretrain", "--data", data, "--tokenizer", tok, "--out", out, "--hidden", "64", "--layers", "2",
		"--heads", "4", "--kv-heads", "2", "--ffn", "128", "--context", "64", "--seq", "32", "--batch", "4",
		"--steps", "20", "--warmup", "2", "--lr", "1e-2", "--eval-every", "10", "--save-every", "10"}
	var buf bytes.Buffer
	if err := run(args, &buf); err != nil {
		t.Fatal(err)
	}
	first := lossAt(t, filepath.Join(out, "log.jsonl"), 1)
	if err := run([]string{"pretrain", "--resume", out, "--steps", "30"}, &buf); err != nil {
		t.Fatal(err)
	}
	last := lossAt(t, filepath.Join(out, "log.jsonl"), 30)
	t.Logf("loss step 1 %.4f, step 30 %.4f", first, last)
	if !(last < 0.6*first) {
		t.Errorf("pre-training did not learn: loss %.4f at step 1, %.4f at step 30", first, last)
	}
	checkPretrainInit(t, out, data, last)
	m, err := model.Open(filepath.Join(out, "model-q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Vocab == nil || len(m.Vocab.Tokens) != 300 || m.Spec.Layers != 2 {
		t.Fatalf("the written model has vocabulary %v and %d layers", m.Vocab != nil, m.Spec.Layers)
	}
}

// lossAt is the training loss logged for step.
func lossAt(t *testing.T, log string, step int) float64 {
	t.Helper()
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var l struct {
			Step int      `json:"step"`
			Loss *float64 `json:"loss"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Step == step && l.Loss != nil {
			return *l.Loss
		}
	}
	t.Fatalf("no loss for step %d in %s", step, log)
	return 0
}

// checkPretrainInit starts a second run from the trained run in from
// (whose last loss was trained) and checks that it begins near that loss,
// not at a fresh model's, and that --init refuses a shape or --resume.
func checkPretrainInit(t *testing.T, from, data string, trained float64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tuned")
	args := []string{"pretrain", "--init", from, "--data", data, "--out", out, "--seq", "32", "--batch", "4",
		"--steps", "2", "--warmup", "1", "--lr", "1e-4", "--eval-every", "2", "--save-every", "2"}
	var buf bytes.Buffer
	if err := run(args, &buf); err != nil {
		t.Fatal(err)
	}
	first := lossAt(t, filepath.Join(out, "log.jsonl"), 1)
	t.Logf("--init: loss at its step 1 %.4f (the run it starts from ended at %.4f)", first, trained)
	if first > 1.5*trained {
		t.Errorf("--init did not start from the trained weights: loss %.4f, the run it starts from %.4f", first, trained)
	}
	for _, bad := range [][]string{
		{"pretrain", "--init", from, "--data", data, "--out", out, "--hidden", "32"},
		{"pretrain", "--init", from, "--resume", from},
		{"pretrain", "--init", from, "--data", data, "--out", from},
	} {
		err := run(bad, &buf)
		t.Logf("%v: %v", bad[3:], err)
		if err == nil {
			t.Errorf("pretrain %v: no error", bad[1:])
		}
	}
}
