package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	if err := run([]string{"convert", "../../testdata/models/tiny-qwen2-f32.gguf", bad, "--type", "q6_k"}, &out); err == nil {
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
