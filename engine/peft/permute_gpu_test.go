//go:build !js

package peft_test

import (
	"bytes"
	"math"
	"testing"

	"webpeft/engine/format/gguf"
	"webpeft/engine/format/safetensors"
	"webpeft/engine/gpu/gputest"
	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// TestPermutationProof trains the same adapters, from the same
// initialisation and data, on a tiny llama written as GGUF (Q/K rows
// permuted, interleaved RoPE) and as its Hugging Face twin (rows in
// transformers' order, half-rotation RoPE) — the same model — on the
// GPU. LoRA's A starts equal and B at zero, IA3 at ones; the prefix keys
// of the GGUF run start as the twin's permuted per KV head (Set.Reorder),
// since they live in the model's key order. The trained adapters differ
// by the permutation (q/k B rows, k's IA3 vector, prefix keys) and by
// float32 rounding of sums taken in another order, so the Hugging Face
// PEFT folders exported from the two runs — un-permuted from the GGUF
// one — must agree within 1e-6 of each tensor's largest value, and so
// must the llama.cpp GGUF LoRA files (permuted from the twin).
func TestPermutationProof(t *testing.T) {
	d := gputest.Device(t)
	gg, _, err := model.RandomModel(model.TinyConfig(model.Llama, tensor.F32))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := model.WriteHF(dir, gg); err != nil {
		t.Fatal(err)
	}
	hf, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	if !model.PEFTInfo(gg.Spec).PermutedQK || model.PEFTInfo(hf.Spec).PermutedQK {
		t.Fatal("want a permuted GGUF model and an unpermuted twin")
	}
	var gpus []*model.GPU
	for _, m := range []*model.Model{gg, hf} {
		g, err := model.LoadGPU(d, m, model.LoadOptions{HeadChunk: 256, EmbedChunk: 256})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Free()
		gpus = append(gpus, g)
	}
	dims := model.PEFTDims(gg.Spec)
	for _, c := range []peft.Config{
		{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "v"}},
		{Method: peft.IA3},
		{Method: peft.Prefix, VirtualTokens: 2},
	} {
		t.Run(c.Method, func(t *testing.T) {
			set, err := peft.NewSet(dims, c)
			if err != nil {
				t.Fatal(err)
			}
			init := set.Init(5) // in Hugging Face order
			ggInit, err := set.Reorder(init, gg.Spec.Heads, gg.Spec.KVHeads, true)
			if err != nil {
				t.Fatal(err)
			}
			a := trainSteps(t, gpus[0], set, ggInit)
			b := trainSteps(t, gpus[1], set, init)
			ca, ta, err := peft.ExportPEFT(set, a, model.PEFTInfo(gg.Spec))
			if err != nil {
				t.Fatal(err)
			}
			_, tb, err := peft.ExportPEFT(set, b, model.PEFTInfo(hf.Spec))
			if err != nil {
				t.Fatal(err)
			}
			if len(ca) == 0 {
				t.Fatal("empty config")
			}
			for _, tt := range set.Tensors {
				if sameBits(a[tt.Off:tt.Off+tt.Len], ggInit[tt.Off:tt.Off+tt.Len]) {
					t.Fatalf("training did not move %s", tt.Name)
				}
			}
			want := safetensorsF32(t, tb)
			compareTensors(t, "PEFT", safetensorsF32(t, ta), want)
			if c.Method == peft.LoRA {
				compareTensors(t, "GGUF", ggufF32(t, set, a, model.PEFTInfo(gg.Spec)), ggufF32(t, set, b, model.PEFTInfo(hf.Spec)))
			}
			// The control: left in the GGUF model's order, the same
			// adapter is far from the twin's — the check above can fail.
			wrong := model.PEFTInfo(gg.Spec)
			wrong.PermutedQK = false
			_, tw, err := peft.ExportPEFT(set, a, wrong)
			if err != nil {
				t.Fatal(err)
			}
			if worst, name := maxTensorDiff(t, safetensorsF32(t, tw), want); worst < 1e-2 {
				t.Errorf("not un-permuting changed the export by only %.3g (%s)", worst, name)
			}
		})
	}
}

// trainSteps runs 3 AdamW steps from init on a fixed batch, with eps 1
// (and lr 1), so that each step is close to linear in the gradient. With
// the usual eps 1e-8, Adam's normalisation amplifies the float32
// rounding differences between the two runs where successive gradients
// nearly cancel (4e-5 of a tensor's largest value was measured): that
// would measure the optimizer, not the permutation.
func trainSteps(t *testing.T, g *model.GPU, set *peft.Set, init []float32) []float32 {
	t.Helper()
	const B, T = 2, 8
	tr, err := model.NewTrainer(g, set, model.TrainOptions{B: B, T: T})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	if err := tr.SetParams(init); err != nil {
		t.Fatal(err)
	}
	batch := model.Batch{Tokens: make([]int, B*T), Targets: make([]int, B*T)}
	for i := range batch.Tokens {
		batch.Tokens[i] = (i*37 + 11) % g.Spec.Vocab
		batch.Targets[i] = (i*53 + 29) % g.Spec.Vocab
	}
	for step := 0; step < 3; step++ {
		h := model.AdamWHyper{LR: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1}
		if _, err := tr.Step(batch, h, true); err != nil {
			t.Fatal(err)
		}
	}
	p, err := tr.Params()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func safetensorsF32(t *testing.T, ts []byte) map[string][]float32 {
	t.Helper()
	f, err := safetensors.Open(bytes.NewReader(ts), int64(len(ts)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if out[ti.Name], err = f.ReadF32(ti, 0, ti.Rows()); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func ggufF32(t *testing.T, set *peft.Set, params []float32, info peft.ModelInfo) map[string][]float32 {
	t.Helper()
	var buf bytes.Buffer
	if err := peft.ExportGGUF(&buf, set, params, info); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if out[ti.Name], err = f.ReadF32(ti, 0, int(ti.Rows())); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// compareTensors checks that a and b hold the same tensors, each within
// 1e-6 of its largest |value|.
func compareTensors(t *testing.T, what string, a, b map[string][]float32) {
	t.Helper()
	worst, name := maxTensorDiff(t, a, b)
	t.Logf("%s: %d tensors, worst max|diff|/max|value| %.3g (%s)", what, len(a), worst, name)
	if !(worst <= 1e-6) {
		t.Errorf("%s: the exports of the GGUF model and of its HF twin differ: %.3g (%s)", what, worst, name)
	}
}

// maxTensorDiff is the largest max|a-b|/max|b| over the tensors.
func maxTensorDiff(t *testing.T, a, b map[string][]float32) (float64, string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d tensors vs %d", len(a), len(b))
	}
	worst, worstName := 0.0, ""
	for name, x := range a {
		y, ok := b[name]
		if !ok || len(x) != len(y) {
			t.Fatalf("%s missing or of another size in the twin's export", name)
		}
		var diff, ref float64
		for i := range x {
			diff = math.Max(diff, math.Abs(float64(x[i])-float64(y[i])))
			ref = math.Max(ref, math.Abs(float64(y[i])))
		}
		if rel := diff / math.Max(ref, 1e-30); rel > worst || math.IsNaN(rel) {
			worst, worstName = rel, name
		}
	}
	return worst, worstName
}
