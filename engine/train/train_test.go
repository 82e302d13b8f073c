//go:build !js

package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/model"
	"webpeft/engine/peft"
)

const tinyLlama = "../../testdata/models/tiny-llama-q8_0.gguf"

func openTiny(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.Open(tinyLlama)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// goals are the acceptance bounds on the memorisation set after 300
// steps, as a fraction of the first step's loss: LoRA and adapters learn
// the 8 sentences; prompt tuning and IA3 can only steer a random network.
var goals = map[string]float64{peft.LoRA: 0.10, peft.Adapter: 0.10, peft.Prefix: 0.50, peft.Prompt: 0.80, peft.IA3: 0.80}

// TestConvergence trains every method for 300 steps on tiny-llama-q8_0
// (make test-long; about a minute on lavapipe). TestConvergenceSmoke is
// its 10-step version in make test.
func TestConvergence(t *testing.T) {
	if os.Getenv("WEBPEFT_LONG") == "" {
		t.Skip("long: run with WEBPEFT_LONG=1 (make test-long)")
	}
	d := gputest.Device(t)
	m := openTiny(t)
	for _, method := range peft.Methods {
		losses, err := Curve(d, m, method, 300)
		if err != nil {
			t.Fatal(err)
		}
		ratio := losses[len(losses)-1] / losses[0]
		t.Logf("%s: loss %.4f -> %.4f after %d steps (%.1f%% of the start; goal below %.0f%%)",
			method, losses[0], losses[len(losses)-1], len(losses), 100*ratio, 100*goals[method])
		if !(ratio < goals[method]) {
			t.Errorf("%s: final loss is %.1f%% of the start, want below %.0f%%", method, 100*ratio, 100*goals[method])
		}
	}
}

func TestConvergenceSmoke(t *testing.T) {
	d := gputest.Device(t)
	m := openTiny(t)
	for _, method := range peft.Methods {
		losses, err := Curve(d, m, method, 10)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: loss %.4f -> %.4f in 10 steps", method, losses[0], losses[9])
		if !(losses[9] < losses[0]) {
			t.Errorf("%s: the loss did not go down in 10 steps: %v", method, losses)
		}
	}
}

// TestResume: 10 steps in one go, and 5 steps, a checkpoint, a fresh
// trainer resumed from it and 5 more, give the same per-step losses.
func TestResume(t *testing.T) {
	d := gputest.Device(t)
	m := openTiny(t)
	g, err := model.LoadGPU(d, m, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	set, err := peft.NewSet(model.PEFTDims(m.Spec), peft.Defaults(peft.LoRA), peft.Defaults(peft.Prompt))
	if err != nil {
		t.Fatal(err)
	}
	ex := MemorizationSet(m.Spec.Vocab)
	opt := Options{Steps: 10, Schedule: Schedule{Kind: "cosine", LR: 1e-3, Warmup: 2, Steps: 10}, Seed: 4}
	run := func(steps int, st *State, dir string) []float64 {
		tr, err := model.NewTrainer(g, set, model.TrainOptions{B: 2, T: 16, MaxGradNorm: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Free()
		if st != nil {
			err = Resume(tr, st)
		} else {
			err = tr.SetParams(set.Init(1))
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := NewBatcher(ex, 2, 16, 4)
		o := opt
		o.Steps, o.Dir, o.SaveEvery = steps, dir, 5
		var losses []float64
		if _, err := Run(context.Background(), tr, data, nil, o, st, nil, func(p Progress) { losses = append(losses, p.Loss) }); err != nil {
			t.Fatal(err)
		}
		return losses
	}
	whole := run(10, nil, "")
	dir := t.TempDir()
	first := run(5, nil, dir)
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	second := run(10, st, "")
	resumed := append(first, second...)
	if len(resumed) != len(whole) {
		t.Fatalf("%d losses resumed, %d in one go", len(resumed), len(whole))
	}
	for i := range whole {
		if math.Abs(resumed[i]-whole[i]) > 1e-6 {
			t.Errorf("step %d: loss %.9f resumed, %.9f in one go", i+1, resumed[i], whole[i])
		}
	}
	t.Logf("10 steps in one go and 5 + checkpoint + 5 agree: %.6f .. %.6f", whole[0], whole[9])
}

// TestBadInput: empty data, no target tokens, a sequence longer than the
// context and a NaN loss are refused with clear errors; the NaN step
// leaves the last checkpoint as it was.
func TestBadInput(t *testing.T) {
	m := openTiny(t)
	c := Codec{Vocab: m.Vocab}
	if _, err := Load(strings.NewReader("  \n"), "empty.txt", c, DataOptions{Seq: 8}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty data: err = %v", err)
	}
	d := gputest.Device(t)
	g, err := model.LoadGPU(d, m, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	set, _ := peft.NewSet(model.PEFTDims(m.Spec), peft.Defaults(peft.LoRA))
	if _, err := model.NewTrainer(g, set, model.TrainOptions{B: 1, T: m.Spec.Context + 1}); err == nil {
		t.Error("a sequence longer than the context was accepted")
	}
	tr, err := model.NewTrainer(g, set, model.TrainOptions{B: 1, T: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	if _, err := tr.Step(model.Batch{Tokens: make([]int, 16), Targets: minusOnes(16)}, model.AdamWHyper{}, false); err == nil {
		t.Error("a batch without targets was accepted")
	}
	dir := t.TempDir()
	p := set.Init(1)
	if err := tr.SetParams(p); err != nil {
		t.Fatal(err)
	}
	data, _ := NewBatcher(MemorizationSet(m.Spec.Vocab), 1, 16, 1)
	opt := Options{Steps: 1, Schedule: Schedule{LR: 1e-3, Steps: 1}, Dir: dir}
	if _, err := Run(context.Background(), tr, data, nil, opt, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, stateTensors))
	for i := range p {
		p[i] = float32(math.NaN())
	}
	tr.SetParams(p)
	opt.Steps = 2
	st, _ := LoadState(dir)
	_, err = Run(context.Background(), tr, data, nil, opt, st, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN parameters: err = %v, want the NaN loss named", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, stateTensors))
	if string(after) != string(good) {
		t.Error("the NaN step overwrote the last good checkpoint")
	}
	if _, err := Run(context.Background(), tr, data, nil, Options{Steps: 1, Schedule: Schedule{LR: -1, Steps: 1}}, nil, nil, nil); err == nil {
		t.Error("a negative learning rate was accepted")
	}
}

func minusOnes(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = -1
	}
	return v
}

func TestTrimLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	log := "{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n{\"step\":2,\"val_loss\":2.5}\n{\"step\":3,\"loss\":1}\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := TrimLog(path, 2); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "{\"step\":1,\"loss\":3}\n{\"step\":2,\"loss\":2}\n{\"step\":2,\"val_loss\":2.5}\n"; string(got) != want {
		t.Errorf("trimmed log = %q, want %q", got, want)
	}
	if err := TrimLog(filepath.Join(t.TempDir(), "none.jsonl"), 2); err != nil {
		t.Errorf("missing log: %v", err)
	}
}
