package model

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// mergeSet is LoRA on every module plus IA3, moved off their identity
// initialisation so that every folded tensor changes.
func mergeSet(t *testing.T, s *Spec) (*peft.Set, []float32) {
	t.Helper()
	d := PEFTDims(s)
	set, err := peft.NewSet(d, peft.Config{Method: peft.LoRA, Rank: 3, Alpha: 5, Targets: peft.AllModules(d)}, peft.Config{Method: peft.IA3})
	if err != nil {
		t.Fatal(err)
	}
	p64 := peftParams(set, 21)
	params := make([]float32, len(p64))
	for i, v := range p64 {
		params[i] = float32(v)
	}
	return set, params
}

// reopen writes m as a GGUF of typ and opens it again.
func reopen(t *testing.T, m *Model, typ tensor.Type) *Model {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, m, typ); err != nil {
		t.Fatal(err)
	}
	out, err := OpenGGUF(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMergeMatchesAdapter: the logits of base + adapter (on the GPU)
// equal those of the merged model written as an F32 GGUF (on the GPU),
// within 1e-4 x max |logit|, for LoRA and IA3 on every architecture.
func TestMergeMatchesAdapter(t *testing.T) {
	d := gputest.Device(t)
	for _, arch := range Archs {
		base, _, err := RandomModel(tinyConfig(arch, tensor.F32))
		if err != nil {
			t.Fatal(err)
		}
		set, params := mergeSet(t, base.Spec)
		g, err := LoadGPU(d, base, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ad, err := g.NewAdapter(set, params)
		if err != nil {
			t.Fatal(err)
		}
		tokens := tinyTokens(base.Spec.Vocab, 9)
		want, err := g.AdapterLogits(tokens, true, ad)
		ad.Free()
		g.Free()
		if err != nil {
			t.Fatal(err)
		}
		merged, err := Merge(base, set, params)
		if err != nil {
			t.Fatal(err)
		}
		mg, err := LoadGPU(d, reopen(t, merged, tensor.F32), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := mg.Logits(tokens, true)
		mg.Free()
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff, maxLogit float64
		for i := range want {
			for j := range want[i] {
				maxDiff = math.Max(maxDiff, math.Abs(float64(got[i][j]-want[i][j])))
				maxLogit = math.Max(maxLogit, math.Abs(float64(want[i][j])))
			}
		}
		t.Logf("%s: merged vs adapter logits: max |diff| / max |logit| = %.2g", arch, maxDiff/maxLogit)
		if !(maxDiff <= 1e-4*maxLogit) {
			t.Errorf("%s: merged logits differ from base + adapter by %g (max |logit| %g)", arch, maxDiff, maxLogit)
		}
	}
}

// TestMergeRefuses: methods that add computation are not merged.
func TestMergeRefuses(t *testing.T) {
	base, _, err := RandomModel(tinyConfig(Llama, tensor.F32))
	if err != nil {
		t.Fatal(err)
	}
	set, err := peft.NewSet(PEFTDims(base.Spec), peft.Config{Method: peft.Prompt, VirtualTokens: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge(base, set, set.Init(1))
	if err == nil || !strings.Contains(err.Error(), "prompt adds computation") {
		t.Fatalf("merging prompt tuning: got %v, want a refusal naming prompt", err)
	}
}
