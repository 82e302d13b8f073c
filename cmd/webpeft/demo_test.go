package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
)

// TestDemoTasksAnyModel runs the commands of `make demo-eval` (LoRA on the
// Lincoln training split, eval on its validation split, the spam task's
// accuracy) on GGUF files of the other architectures than the default
// model's llama, with no change: the demos are data and commands, not code tied to one
// model. Few steps and cut-down data, so it checks the path, not the
// figures.
func TestDemoTasksAnyModel(t *testing.T) {
	gputest.Device(t)
	dir := t.TempDir()
	lincoln := cutFile(t, "../../site/data/lincoln-train.txt", filepath.Join(dir, "lincoln-train.txt"), 4000)
	val := cutFile(t, "../../site/data/lincoln-val.txt", filepath.Join(dir, "lincoln-val.txt"), 2000)
	spam := cutFile(t, "../../site/data/spam-val.jsonl", filepath.Join(dir, "spam.jsonl"), 1200)
	for _, name := range []string{"tiny-qwen2-q8_0", "tiny-gpt2-q8_0"} {
		t.Run(name, func(t *testing.T) {
			m := "../../testdata/models/" + name + ".gguf"
			out := filepath.Join(dir, name)
			if err := run([]string{"train", "--model", m, "--data", lincoln, "--method", "lora", "--steps", "2", "--seq", "32",
				"--val-split", "0", "--out", out}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			var loss struct{ Loss float64 }
			var res bytes.Buffer
			if err := run([]string{"eval", "--model", m, "--data", val, "--adapter", out, "--ctx", "64"}, &res); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(res.Bytes(), &loss); err != nil || !(loss.Loss > 0) {
				t.Errorf("eval printed %q (%v)", res.String(), err)
			}
			var acc struct {
				Accuracy         *float64 `json:"accuracy"`
				MajorityBaseline *float64 `json:"majority_baseline"`
				Examples         int      `json:"examples"`
			}
			res.Reset()
			if err := run([]string{"eval", "--model", m, "--data", spam, "--metric", "accuracy"}, &res); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(res.Bytes(), &acc); err != nil || acc.Accuracy == nil || acc.MajorityBaseline == nil || acc.Examples == 0 {
				t.Errorf("eval --metric accuracy printed %q (%v)", res.String(), err)
			}
		})
	}
}

// cutFile copies the whole lines of src's first n bytes to dst.
func cutFile(t *testing.T, src, dst string, n int) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > n {
		b = b[:strings.LastIndexByte(string(b[:n]), '\n')+1]
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
