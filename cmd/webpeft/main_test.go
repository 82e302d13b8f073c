package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
)

// TestInspectMatchesLlamaCpp: `webpeft inspect --json` reports, for every
// tensor of every test model, the type and ggml-order shape that
// llama.cpp's tools recorded in X.tensors.json.
func TestInspectMatchesLlamaCpp(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/models/*.gguf")
	if len(files) == 0 {
		t.Fatal("no test models")
	}
	for _, f := range files {
		var out bytes.Buffer
		if err := run([]string{"inspect", f, "--json"}, &out); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var got inspectJSON
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		raw, err := os.ReadFile(strings.TrimSuffix(f, ".gguf") + ".tensors.json")
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]struct {
			Type  string `json:"type"`
			Shape []int  `json:"shape"`
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if len(got.Tensors) != len(want) {
			t.Errorf("%s: %d tensors, want %d", f, len(got.Tensors), len(want))
		}
		for _, g := range got.Tensors {
			w, ok := want[g.Name]
			if !ok || w.Type != g.Type || !slices.Equal(w.Shape, g.Shape) {
				t.Errorf("%s: %s is %s %v, want %s %v", filepath.Base(f), g.Name, g.Type, g.Shape, w.Type, w.Shape)
			}
		}
	}
}

// TestConvertCommand converts a model to Q8_0 and inspects the result.
func TestConvertCommand(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out.gguf")
	var out bytes.Buffer
	if err := run([]string{"convert", "../../testdata/models/tiny-qwen2-f32.gguf", dst, "--type", "q8_0"}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run([]string{"inspect", dst, "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var got inspectJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, tt := range got.Tensors {
		want := "Q8_0"
		if len(tt.Shape) == 1 {
			want = "F32"
		}
		if tt.Type != want {
			t.Errorf("%s stored as %s, want %s", tt.Name, tt.Type, want)
		}
	}
	if got.Tokenizer == nil || got.Tokenizer.Pre != "qwen2" {
		t.Errorf("tokenizer %+v, want pre qwen2", got.Tokenizer)
	}
	// A failed conversion leaves nothing behind.
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	if err := run([]string{"convert", "../../testdata/models/tiny-qwen2-f32.gguf", bad, "--type", "q2_k"}, &out); err == nil {
		t.Error("converting to an unsupported type succeeded")
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a failed conversion left a file behind")
	}
}

// TestTokenizeCommand checks the stdin/stdout contract on a vector of
// llama.cpp's.
func TestTokenizeCommand(t *testing.T) {
	var out bytes.Buffer
	if err := cmdTokenize([]string{"--model", "../../testdata/tokenizers/ggml-vocab-gpt-2.gguf"}, strings.NewReader("Hello world"), &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "15496 995" {
		t.Errorf("tokenize = %q, want 15496 995", got)
	}
	out.Reset()
	if err := cmdTokenize([]string{"--model", "../../testdata/tokenizers/ggml-vocab-gpt-2.gguf", "--decode"}, strings.NewReader("15496 995"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Hello world" {
		t.Errorf("decode = %q", out.String())
	}
	if err := cmdTokenize([]string{"--model", "../../testdata/tokenizers/ggml-vocab-gpt-2.gguf", "--decode"}, strings.NewReader("99999999"), &out); err == nil {
		t.Error("an out-of-range id was decoded")
	}
}

// TestLogitsMatchLlamaCpp: `webpeft logits --all` on every test model
// matches llama.cpp's X.logits.json within 1e-4 x max |logit| (the
// testdata README's tolerance), on the GPU and on the CPU reference.
func TestLogitsMatchLlamaCpp(t *testing.T) {
	for _, device := range []string{"gpu", "cpu"} {
		t.Run(device, func(t *testing.T) {
			if device == "gpu" {
				gputest.Device(t) // skips (fails in CI) without an adapter
			}
			checkLogitsCommand(t, device)
		})
	}
}

func checkLogitsCommand(t *testing.T, device string) {
	tokens, err := os.ReadFile("../../testdata/models/tokens.txt")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../testdata/models/*.logits.json")
	if len(files) == 0 {
		t.Fatal("no reference logits")
	}
	for _, f := range files {
		var want, got logitsJSON
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		model := strings.TrimSuffix(f, ".logits.json") + ".gguf"
		if err := run([]string{"logits", "--model", model, "--tokens", string(tokens), "--all", "--device", device}, &out); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.NVocab != want.NVocab || len(got.Logits) != len(want.Logits) {
			t.Fatalf("%s: %d x %d logits, want %d x %d", model, len(got.Logits), got.NVocab, len(want.Logits), want.NVocab)
		}
		maxDiff, maxLogit := 0.0, 0.0
		for i := range want.Logits {
			for j, w := range want.Logits[i] {
				maxLogit = max(maxLogit, abs(float64(w)))
				maxDiff = max(maxDiff, abs(float64(got.Logits[i][j]-w)))
			}
		}
		t.Logf("%s: max |diff| %.3g = %.3g x max |logit|", filepath.Base(model), maxDiff, maxDiff/maxLogit)
		if maxDiff > 1e-4*maxLogit {
			t.Errorf("%s: max |diff| %g is over 1e-4 x max |logit| %g", model, maxDiff, maxLogit)
		}
	}
	if err := run([]string{"logits", "--model", "../../testdata/models/tiny-gpt2-f32.gguf", "--tokens", "1 99999", "--device", device}, io.Discard); err == nil {
		t.Error("an out-of-vocabulary token was accepted")
	}
}

func abs(x float64) float64 { return max(x, -x) }

// TestTrainCommand: `webpeft train` writes the adapter, checkpoint and
// log, and `eval` / `generate` take the adapter; a broken JSONL line is
// refused with its line number.
func TestTrainCommand(t *testing.T) {
	gputest.Device(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "notes.txt")
	text := strings.Repeat("the quick brown fox jumps over the lazy dog\n", 20)
	if err := os.WriteFile(data, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	model := "../../testdata/models/tiny-llama-q8_0.gguf"
	out := filepath.Join(dir, "run")
	var res bytes.Buffer
	if err := run([]string{"train", "--model", model, "--data", data, "--method", "lora,ia3", "--out", out, "--steps", "3", "--seq", "16"}, &res); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "checkpoint.json", "checkpoint.safetensors", "log.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("train wrote no %s: %v", f, err)
		}
	}
	var eval struct{ Loss, Perplexity float64 }
	res.Reset()
	if err := run([]string{"eval", "--model", model, "--data", data, "--adapter", out}, &res); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res.Bytes(), &eval); err != nil || !(eval.Loss > 0) {
		t.Errorf("eval --adapter printed %q (%v)", res.String(), err)
	}
	if err := run([]string{"generate", "--model", model, "--prompt", "the quick", "--adapter", out, "--max-tokens", "4"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"fine\"}\n{broken\n"), 0o644)
	err := run([]string{"train", "--model", model, "--data", bad, "--out", filepath.Join(dir, "bad"), "--steps", "1"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("a broken line: err = %v, want it named by line", err)
	}
}
