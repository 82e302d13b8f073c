package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/model"
	"webpeft/engine/peft"
)

const tinyLlama = "../../testdata/models/tiny-llama-f32.gguf"

// writeNativeAdapter writes a native adapter folder for the model at
// modelPath with seeded parameters away from their initialisation, as
// `webpeft train` leaves one; withInfo false writes it as webpeft did
// before folders recorded their model.
func writeNativeAdapter(t *testing.T, modelPath, dir string, c peft.Config, withInfo bool) {
	t.Helper()
	m, err := model.Open(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := peft.NewSet(model.PEFTDims(m.Spec), c)
	if err != nil {
		t.Fatal(err)
	}
	params := set.Init(1)
	rng := rand.New(rand.NewPCG(4, 5))
	for _, tt := range set.Tensors {
		for i := tt.Off; i < tt.Off+tt.Len; i++ {
			params[i] += float32(0.05 * (2*rng.Float64() - 1))
		}
	}
	var cfg, ts bytes.Buffer
	if err := peft.WriteNative(&cfg, &ts, set, params, model.PEFTInfo(m.Spec)); err != nil {
		t.Fatal(err)
	}
	config := cfg.Bytes()
	if !withInfo {
		var raw map[string]json.RawMessage
		json.Unmarshal(config, &raw)
		delete(raw, "model")
		config, _ = json.Marshal(raw)
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, peft.ConfigFile), config, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, peft.TensorsFile), ts.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRun(t *testing.T, args ...string) {
	t.Helper()
	if err := run(args, io.Discard); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ", a, b)
	}
}

// TestExportCommand: `webpeft export` writes a PEFT folder (exactly
// adapter_config.json and adapter_model.safetensors, PEFT's file names)
// or a GGUF LoRA from a native folder with no model; converting between
// PEFT and GGUF needs --model, and gives the same files; an adapter that
// does not fit --model, and a method a format cannot hold, are refused.
func TestExportCommand(t *testing.T) {
	tmp := t.TempDir()
	native := filepath.Join(tmp, "native")
	writeNativeAdapter(t, tinyLlama, native, peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "v", "o"}}, true)
	hfDir, ggufFile := filepath.Join(tmp, "hf"), filepath.Join(tmp, "a.gguf")
	mustRun(t, "export", "--adapter", native, "--format", "peft", "--out", hfDir)
	entries, _ := os.ReadDir(hfDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"adapter_config.json", "adapter_model.safetensors"}) {
		t.Errorf("the PEFT folder holds %v", names)
	}
	var cfg map[string]any
	raw, _ := os.ReadFile(filepath.Join(hfDir, "adapter_config.json"))
	json.Unmarshal(raw, &cfg)
	if cfg["peft_type"] != "LORA" || cfg["base_model_name_or_path"] != "tiny-llama-s1" || cfg["task_type"] != "CAUSAL_LM" {
		t.Errorf("adapter_config.json: %v", cfg)
	}
	mustRun(t, "export", "--adapter", native, "--format", "gguf", "--out", ggufFile)

	// PEFT <-> GGUF through the model: the same files.
	err := run([]string{"export", "--adapter", hfDir, "--format", "gguf", "--out", filepath.Join(tmp, "b.gguf")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("PEFT -> GGUF without --model: %v", err)
	}
	mustRun(t, "export", "--adapter", hfDir, "--format", "gguf", "--out", filepath.Join(tmp, "b.gguf"), "--model", tinyLlama)
	sameFile(t, ggufFile, filepath.Join(tmp, "b.gguf"))
	mustRun(t, "export", "--adapter", ggufFile, "--format", "peft", "--out", filepath.Join(tmp, "hf2"), "--model", tinyLlama)
	for _, f := range []string{peft.ConfigFile, peft.TensorsFile} {
		sameFile(t, filepath.Join(hfDir, f), filepath.Join(tmp, "hf2", f))
	}
	mustRun(t, "export", "--adapter", native, "--format", "peft", "--out", filepath.Join(tmp, "hf3"), "--base-name", "org/tiny")
	raw, _ = os.ReadFile(filepath.Join(tmp, "hf3", "adapter_config.json"))
	if !bytes.Contains(raw, []byte(`"base_model_name_or_path": "org/tiny"`)) {
		t.Errorf("--base-name not recorded: %s", raw)
	}

	err = run([]string{"export", "--adapter", native, "--format", "peft", "--out", filepath.Join(tmp, "x"), "--model", "../../testdata/models/tiny-gpt2-f32.gguf"}, io.Discard)
	if err == nil {
		t.Error("a llama adapter exported against a gpt2 model")
	}
	old := filepath.Join(tmp, "old")
	writeNativeAdapter(t, tinyLlama, old, peft.Config{Method: peft.IA3}, false)
	if err := run([]string{"export", "--adapter", old, "--format", "peft", "--out", filepath.Join(tmp, "y")}, io.Discard); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("an old folder without --model: %v", err)
	}
	mustRun(t, "export", "--adapter", old, "--format", "peft", "--out", filepath.Join(tmp, "y"), "--model", tinyLlama)
	ad := filepath.Join(tmp, "bottleneck")
	writeNativeAdapter(t, tinyLlama, ad, peft.Config{Method: peft.Adapter, Bottleneck: 4}, true)
	if err := run([]string{"export", "--adapter", ad, "--format", "peft", "--out", filepath.Join(tmp, "z")}, io.Discard); err == nil || !strings.Contains(err.Error(), "native format") {
		t.Errorf("bottleneck adapter exported: %v", err)
	}
	if err := run([]string{"export", "--adapter", old, "--format", "gguf", "--out", filepath.Join(tmp, "z.gguf"), "--model", tinyLlama}, io.Discard); err == nil {
		t.Error("IA3 exported as GGUF")
	}
	if _, err := os.Stat(filepath.Join(tmp, "z.gguf")); err == nil {
		t.Error("a refused export left a file behind")
	}
}

// evalLoss runs `webpeft eval` with adapter (none: "").
func evalLoss(t *testing.T, modelPath, data, adapter string) float64 {
	t.Helper()
	var out bytes.Buffer
	args := []string{"eval", "--model", modelPath, "--data", data, "--ctx", "32"}
	if adapter != "" {
		args = append(args, "--adapter", adapter)
	}
	if err := run(args, &out); err != nil {
		t.Fatalf("eval with %s: %v", adapter, err)
	}
	var res model.EvalResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	return res.Loss
}

// TestAdapterKinds: eval takes a native folder, its PEFT export and its
// GGUF export with identical losses (the parameters come back bit for
// bit); a native adapter trained on the llama GGUF file, applied to the
// model's Hugging Face twin (Q/K rows in the other order), is reordered
// and gives the same loss.
func TestAdapterKinds(t *testing.T) {
	gputest.Device(t)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "text.txt")
	os.WriteFile(data, []byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ", 4)), 0o644)
	twin := filepath.Join(tmp, "twin")
	m, err := model.Open(tinyLlama)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.WriteHF(twin, m); err != nil {
		t.Fatal(err)
	}
	m.Close()
	base := evalLoss(t, tinyLlama, data, "")
	for _, c := range []peft.Config{
		{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "v", "o", "down"}},
		{Method: peft.IA3},
		{Method: peft.Prefix, VirtualTokens: 3},
	} {
		native := filepath.Join(tmp, c.Method)
		writeNativeAdapter(t, tinyLlama, native, c, true)
		want := evalLoss(t, tinyLlama, data, native)
		if want == base {
			t.Errorf("%s: the adapter changed nothing", c.Method)
		}
		kinds := map[string]string{"peft": native + "-peft"}
		if c.Method == peft.LoRA {
			kinds["gguf"] = native + ".gguf"
		}
		for format, path := range kinds {
			mustRun(t, "export", "--adapter", native, "--format", format, "--out", path)
			if got := evalLoss(t, tinyLlama, data, path); got != want {
				t.Errorf("%s as %s: loss %v, native %v", c.Method, format, got, want)
			}
		}
		got := evalLoss(t, twin, data, native)
		t.Logf("%s: loss %.6f with the adapter, %.6f without; on the HF twin %.6f", c.Method, want, base, got)
		if math.Abs(got-want) > 1e-5*math.Abs(want) {
			t.Errorf("%s on the HF twin: loss %v, on the GGUF model %v", c.Method, got, want)
		}
	}
}

// TestTrainInitAdapter: `webpeft train --init-adapter` continues from a
// Hugging Face PEFT folder (here a native adapter's export): the methods
// and parameters come from it, and training moves them.
func TestTrainInitAdapter(t *testing.T) {
	gputest.Device(t)
	tmp := t.TempDir()
	native, hfDir, out := filepath.Join(tmp, "native"), filepath.Join(tmp, "hf"), filepath.Join(tmp, "run")
	writeNativeAdapter(t, tinyLlama, native, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v"}}, true)
	mustRun(t, "export", "--adapter", native, "--format", "peft", "--out", hfDir)
	data := filepath.Join(tmp, "notes.txt")
	os.WriteFile(data, []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 10)), 0o644)
	mustRun(t, "train", "--model", tinyLlama, "--data", data, "--init-adapter", hfDir, "--method", "ia3", "--out", out, "--steps", "2", "--seq", "16")
	before, p0, _, err := readNative(native, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, p1, _, err := readNative(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	c0, c1 := before.Configs[0], after.Configs[0]
	if len(after.Configs) != 1 || c1.Method != peft.LoRA || c1.Rank != c0.Rank || c1.Alpha != c0.Alpha || !slices.Equal(c1.Targets, c0.Targets) {
		t.Fatalf("trained %+v, want the initial adapter's %+v", after.Configs, c0)
	}
	if slices.Equal(p0, p1) {
		t.Error("training from the adapter changed nothing")
	}
}
