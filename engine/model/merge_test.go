//go:build !js

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

// TestCombine: two LoRA + IA3 adapters combined at weights 1 and 0.5
// fold into W' = diag(lA * lB^0.5) (W + dA + 0.5 dB) (and the FFN input
// scaled alike), built here independently by folding the two LoRAs (B of
// the second halved) and then one IA3 set holding the product.
func TestCombine(t *testing.T) {
	base, _, err := RandomModel(tinyConfig(Qwen2, tensor.F32))
	if err != nil {
		t.Fatal(err)
	}
	d := PEFTDims(base.Spec)
	setA, pA := mergeSet(t, base.Spec)
	setB, err := peft.NewSet(d, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 7, RSLoRA: true, Targets: []string{"k", "down"}}, peft.Config{Method: peft.IA3})
	if err != nil {
		t.Fatal(err)
	}
	pB := toF32(peftParams(setB, 33))
	set, params, err := peft.Combine(peft.Weighted{Set: setA, Params: pA, Weight: 1}, peft.Weighted{Set: setB, Params: pB, Weight: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Merge(base, set, params)
	if err != nil {
		t.Fatal(err)
	}

	loraA, qA := subset(t, setA, pA, peft.LoRA, func(_ string, _ int, v float32) float32 { return v })
	loraB, qB := subset(t, setB, pB, peft.LoRA, func(name string, _ int, v float32) float32 {
		if strings.HasSuffix(name, ".b") {
			return v * 0.5
		}
		return v
	})
	ia3, q3 := subset(t, setA, pA, peft.IA3, func(name string, i int, v float32) float32 {
		x, _ := setB.Tensor(name)
		b := float64(pB[x.Off+i])
		return v * float32(math.Copysign(math.Sqrt(math.Abs(b)), b))
	})
	want := base
	for _, step := range []struct {
		set    *peft.Set
		params []float32
	}{{loraA, qA}, {loraB, qB}, {ia3, q3}} {
		if want, err = Merge(reopen(t, want, tensor.F32), step.set, step.params); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range base.Spec.Tensors {
		w, err := want.ReadF32(x.Name, 0, x.Rows())
		if err != nil {
			t.Fatal(err)
		}
		g, err := got.ReadF32(x.Name, 0, x.Rows())
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); d > 1e-5*(1+math.Abs(float64(w[i]))) {
				t.Fatalf("%s[%d]: combined %g, folded one by one %g", x.Name, i, g[i], w[i])
			}
		}
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// subset is set's one method as a set of its own, each value passed
// through f(tensor name, index in the tensor, value).
func subset(t *testing.T, set *peft.Set, params []float32, method string, f func(string, int, float32) float32) (*peft.Set, []float32) {
	t.Helper()
	c, _ := set.Config(method)
	sub, err := peft.NewSet(set.Dims, c)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, sub.Size)
	for _, x := range sub.Tensors {
		src, _ := set.Tensor(x.Name)
		for i := 0; i < x.Len; i++ {
			out[x.Off+i] = f(x.Name, i, params[src.Off+i])
		}
	}
	return sub, out
}
