package main

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/model"
	"webpeft/engine/peft"
)

const tinyLlamaQ8 = "../../testdata/models/tiny-llama-q8_0.gguf"

// testTokens are the test models' token sequence (testdata/models).
func testTokens(t *testing.T, vocab int) []int {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/models/tokens.txt")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := parseIDs(string(raw), vocab)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// adapterLogits runs the test tokens through the model at modelPath on
// the GPU with the adapters (PATH[:WEIGHT]) loaded as generate and eval
// load them, every position's logits.
func adapterLogits(t *testing.T, modelPath string, adapters ...string) [][]float32 {
	t.Helper()
	m, err := model.Open(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var list adapterList
	for _, a := range adapters {
		if err := list.Set(a); err != nil {
			t.Fatal(err)
		}
	}
	g, err := loadGPU(m)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	ad, err := loadAdapters(g, list)
	if err != nil {
		t.Fatal(err)
	}
	defer ad.Free()
	rows, err := g.AdapterLogits(testTokens(t, m.Spec.Vocab), true, ad)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// commandLogits is `webpeft logits --all` of the test tokens on modelPath.
func commandLogits(t *testing.T, modelPath string) [][]float32 {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/models/tokens.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"logits", "--model", modelPath, "--tokens", string(raw), "--all"}, &out); err != nil {
		t.Fatalf("logits of %s: %v", modelPath, err)
	}
	var res logitsJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	return res.Logits
}

// checkSameLogits fails unless got and want agree within 1e-4 x max
// |logit|, and returns that ratio.
func checkSameLogits(t *testing.T, what string, got, want [][]float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	var maxDiff, maxLogit float64
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: row %d has %d logits, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j, w := range want[i] {
			maxLogit = math.Max(maxLogit, math.Abs(float64(w)))
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i][j]-w)))
		}
	}
	ratio := maxDiff / maxLogit
	t.Logf("%s: max |diff| %.3g = %.3g x max |logit|", what, maxDiff, ratio)
	if !(ratio <= 1e-4) {
		t.Errorf("%s: max |diff| %g is over 1e-4 x max |logit| %g", what, maxDiff, maxLogit)
	}
	return ratio
}

// TestMergeCommandMatchesAdapter: a model merged to an F32 GGUF gives the
// logits of its base with the adapter applied, for LoRA on every module,
// for IA3, and for both on a Q8_0 base (merged with --type f32).
func TestMergeCommandMatchesAdapter(t *testing.T) {
	gputest.Device(t)
	tmp := t.TempDir()
	lora := peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "v", "o", "gate", "up", "down"}}
	for _, tc := range []struct {
		name    string
		base    string
		configs []peft.Config
	}{
		{"lora", tinyLlama, []peft.Config{lora}},
		{"ia3", tinyLlama, []peft.Config{{Method: peft.IA3}}},
		{"lora+ia3 on q8_0", tinyLlamaQ8, []peft.Config{lora, {Method: peft.IA3}}},
	} {
		adapter := filepath.Join(tmp, strings.ReplaceAll(tc.name, " ", "-"))
		writeNativeAdapterSet(t, tc.base, adapter, tc.configs...)
		merged := adapter + ".gguf"
		mustRun(t, "merge", "--model", tc.base, "--adapter", adapter, "--out", merged, "--type", "f32")
		base := commandLogits(t, tc.base)
		want := adapterLogits(t, tc.base, adapter)
		checkSameLogits(t, tc.name+": merged vs base + adapter", commandLogits(t, merged), want)
		// The adapter must move the logits well beyond the tolerance.
		if d := maxAbsDiff(base, want) / maxAbs(want); !(d > 1e-2) {
			t.Errorf("%s: the adapter moves the logits by only %.3g x max |logit|", tc.name, d)
		} else {
			t.Logf("%s: the adapter moves the logits by %.3g x max |logit|", tc.name, d)
		}
	}
}

// TestMergeSafetensors: --format safetensors writes a Hugging Face folder
// (transformers' Q/K order) that model.Open loads and that gives the
// logits of the base with the adapter; a quantized --type is refused.
func TestMergeSafetensors(t *testing.T) {
	gputest.Device(t)
	tmp := t.TempDir()
	adapter, dir := filepath.Join(tmp, "adapter"), filepath.Join(tmp, "merged")
	writeNativeAdapterSet(t, tinyLlama, adapter,
		peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "v", "o", "down"}}, peft.Config{Method: peft.IA3})
	err := run([]string{"merge", "--model", tinyLlama, "--adapter", adapter, "--out", dir, "--format", "safetensors", "--type", "q8_0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "F32") {
		t.Errorf("safetensors with --type q8_0: %v, want a refusal naming F32", err)
	}
	mustRun(t, "merge", "--model", tinyLlama, "--adapter", adapter, "--out", dir, "--format", "safetensors")
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != "safetensors" || m.Vocab == nil {
		t.Errorf("the merged folder opens as %s, vocabulary %v", m.Format, m.Vocab != nil)
	}
	m.Close()
	checkSameLogits(t, "HF folder vs base + adapter", commandLogits(t, dir), adapterLogits(t, tinyLlama, adapter))
}

// TestStackedAdapters: eval with --adapter A --adapter B:0.5 gives the
// loss of the model merged from both (merge with the same flags), within
// 1e-5 relative; B alone at weight 0.5 is neither A nor B.
func TestStackedAdapters(t *testing.T) {
	gputest.Device(t)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "text.txt")
	os.WriteFile(data, []byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ", 4)), 0o644)
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	writeNativeAdapterSet(t, tinyLlama, a, peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "v", "o"}}, peft.Config{Method: peft.IA3})
	writeNativeAdapterSet(t, tinyLlama, b, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 3, RSLoRA: true, Targets: []string{"k", "v", "up", "down"}}, peft.Config{Method: peft.IA3})
	merged := filepath.Join(tmp, "merged.gguf")
	mustRun(t, "merge", "--model", tinyLlama, "--adapter", a, "--adapter", b+":0.5", "--out", merged)
	stacked := evalLossWith(t, tinyLlama, data, a, b+":0.5")
	got := evalLossWith(t, merged, data)
	onlyA, onlyB := evalLossWith(t, tinyLlama, data, a), evalLossWith(t, tinyLlama, data, b+":0.5")
	rel := math.Abs(got-stacked) / math.Abs(stacked)
	t.Logf("loss: A + 0.5 B stacked %.7f, merged %.7f (relative diff %.3g); A alone %.7f, 0.5 B alone %.7f", stacked, got, rel, onlyA, onlyB)
	if !(rel <= 1e-5) {
		t.Errorf("stacked adapters: loss %v, merged model %v", stacked, got)
	}
	if stacked == onlyA || stacked == onlyB {
		t.Error("stacking changed nothing")
	}
}

// TestMergeRefuses: a prompt-tuning adapter, alone or beside a LoRA, is
// refused naming the method and the adapter; so is an adapter of another
// model, and an unknown --type; nothing is written.
func TestMergeRefuses(t *testing.T) {
	tmp := t.TempDir()
	prompt, lora := filepath.Join(tmp, "prompt"), filepath.Join(tmp, "lora")
	writeNativeAdapterSet(t, tinyLlama, prompt, peft.Config{Method: peft.Prompt, VirtualTokens: 3})
	writeNativeAdapterSet(t, tinyLlama, lora, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v"}})
	out := filepath.Join(tmp, "merged.gguf")
	for _, args := range [][]string{
		{"--adapter", prompt},
		{"--adapter", lora, "--adapter", prompt + ":1"},
	} {
		err := run(append([]string{"merge", "--model", tinyLlama, "--out", out}, args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "prompt adds computation") || !strings.Contains(err.Error(), prompt) {
			t.Errorf("merging %v: %v, want a refusal naming prompt and %s", args, err, prompt)
		}
	}
	err := run([]string{"merge", "--model", "../../testdata/models/tiny-gpt2-f32.gguf", "--adapter", lora, "--out", out}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), lora) {
		t.Errorf("a llama adapter merged into gpt2: %v", err)
	}
	err = run([]string{"merge", "--model", tinyLlama, "--adapter", lora, "--out", out, "--type", "q2_k"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--type") {
		t.Errorf("--type q2_k: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused merge left a file behind")
	}
}

// TestMergeDefaultType: without --type an F32 base merges to F32 and a
// Q8_0 base to Q8_0 (vectors stay F32).
func TestMergeDefaultType(t *testing.T) {
	tmp := t.TempDir()
	for base, want := range map[string]string{tinyLlama: "F32", tinyLlamaQ8: "Q8_0"} {
		adapter, out := filepath.Join(tmp, want), filepath.Join(tmp, want+".gguf")
		writeNativeAdapterSet(t, base, adapter, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v"}})
		mustRun(t, "merge", "--model", base, "--adapter", adapter, "--out", out)
		var res bytes.Buffer
		if err := run([]string{"inspect", out, "--json"}, &res); err != nil {
			t.Fatal(err)
		}
		var info inspectJSON
		if err := json.Unmarshal(res.Bytes(), &info); err != nil {
			t.Fatal(err)
		}
		for _, tt := range info.Tensors {
			if len(tt.Shape) == 2 && tt.Type != want {
				t.Errorf("merged %s: %s is %s, want %s", filepath.Base(base), tt.Name, tt.Type, want)
			}
		}
	}
}

// TestParseAdapterArg: the weight is what follows the last colon when it
// is a number; paths with colons are kept whole.
func TestParseAdapterArg(t *testing.T) {
	tmp := t.TempDir()
	colon := filepath.Join(tmp, "run:2")
	os.MkdirAll(colon, 0o755)
	for in, want := range map[string]adapterArg{
		"a":                {"a", 1},
		"a:0.5":            {"a", 0.5},
		"dir/a:-1":         {"dir/a", -1},
		"C:\\runs\\a":      {"C:\\runs\\a", 1},
		"host:dir:a":       {"host:dir:a", 1},
		"host:dir:a:2":     {"host:dir:a", 2},
		colon:              {colon, 1},
		colon + ":0.25":    {colon, 0.25},
		"trailing-colon:":  {"trailing-colon:", 1},
		"a:1e-1":           {"a", 0.1},
		"name:with:0x:end": {"name:with:0x:end", 1},
	} {
		got, err := parseAdapterArg(in)
		if err != nil || got != want {
			t.Errorf("parseAdapterArg(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{":0.5", "a:nan", "a:inf"} {
		if _, err := parseAdapterArg(in); err == nil {
			t.Errorf("parseAdapterArg(%q) was accepted", in)
		}
	}
}

// writeNativeAdapterSet writes a native adapter folder of configs for the
// model at modelPath, with seeded parameters away from their
// initialisation (as writeNativeAdapter, for several methods at once).
func writeNativeAdapterSet(t *testing.T, modelPath, dir string, configs ...peft.Config) {
	t.Helper()
	m, err := model.Open(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := peft.NewSet(model.PEFTDims(m.Spec), configs...)
	if err != nil {
		t.Fatal(err)
	}
	params := set.Init(1)
	h := fnv.New64a()
	h.Write([]byte(filepath.Base(dir))) // adapters of different names differ
	seed := h.Sum64()
	for i := range params {
		seed = seed*6364136223846793005 + 1442695040888963407
		params[i] += float32(0.05 * (float64(seed>>11)/(1<<53)*2 - 1))
	}
	var cfg, ts bytes.Buffer
	if err := peft.WriteNative(&cfg, &ts, set, params, model.PEFTInfo(m.Spec)); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, peft.ConfigFile), cfg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, peft.TensorsFile), ts.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// evalLossWith runs `webpeft eval` with the adapters (PATH[:WEIGHT]).
func evalLossWith(t *testing.T, modelPath, data string, adapters ...string) float64 {
	t.Helper()
	args := []string{"eval", "--model", modelPath, "--data", data, "--ctx", "32"}
	for _, a := range adapters {
		args = append(args, "--adapter", a)
	}
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("eval with %v: %v", adapters, err)
	}
	var res model.EvalResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	return res.Loss
}

func maxAbsDiff(a, b [][]float32) float64 {
	var d float64
	for i := range a {
		for j := range a[i] {
			d = math.Max(d, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return d
}

func maxAbs(a [][]float32) float64 {
	var m float64
	for _, row := range a {
		for _, v := range row {
			m = math.Max(m, math.Abs(float64(v)))
		}
	}
	return m
}
