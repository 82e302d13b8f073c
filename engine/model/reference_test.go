package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const referenceDir = "../../testdata/models"

// readTokens reads testdata/models/tokens.txt: token ids separated by
// white space.
func readTokens(t *testing.T) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(referenceDir, "tokens.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, f := range strings.Fields(string(b)) {
		id, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("tokens.txt: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestReferenceMatchesLlamaCpp runs every tiny GGUF model that has
// llama.cpp's logits (X.logits.json: llama.cpp's CPU forward on an F32 copy
// of X's decoded weights) through the CPU reference forward pass and holds
// it to the README's tolerance: max |diff| <= 1e-4 * max |logit|.
func TestReferenceMatchesLlamaCpp(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(referenceDir, "*.logits.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.logits.json in %s", referenceDir)
	}
	tokens := readTokens(t)
	for _, lf := range files {
		stem := strings.TrimSuffix(filepath.Base(lf), ".logits.json")
		t.Run(stem, func(t *testing.T) {
			t.Parallel()
			var want struct {
				NVocab int         `json:"n_vocab"`
				Logits [][]float64 `json:"logits"`
			}
			b, err := os.ReadFile(lf)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("%s: %v", lf, err)
			}
			m, err := Open(filepath.Join(referenceDir, stem+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got, err := ReferenceLogits(m, tokens)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.Logits) || len(got) != len(tokens) {
				t.Fatalf("%d rows of logits, want %d (and %d tokens)", len(got), len(want.Logits), len(tokens))
			}
			var maxDiff, maxLogit float64
			worst := 0
			for i := range got {
				if len(got[i]) != want.NVocab || len(want.Logits[i]) != want.NVocab {
					t.Fatalf("row %d: %d logits, want %d (reference row has %d)", i, len(got[i]), want.NVocab, len(want.Logits[i]))
				}
				for j, w := range want.Logits[i] {
					maxLogit = max(maxLogit, math.Abs(w))
					if d := math.Abs(float64(got[i][j]) - w); d > maxDiff || math.IsNaN(d) {
						maxDiff, worst = d, i
					}
				}
			}
			ratio := maxDiff / maxLogit
			t.Logf("%s: max |diff| %.3g (row %d), max |logit| %.3g, ratio %.3g", stem, maxDiff, worst, maxLogit, ratio)
			if !(ratio <= 1e-4) {
				t.Errorf("max |diff| / max |logit| = %.3g, want <= 1e-4", ratio)
			}
		})
	}
}

func TestReferenceRefusesBadInput(t *testing.T) {
	m, err := Open(filepath.Join(referenceDir, "tiny-llama-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := LoadReference(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, toks := range [][]int{nil, {1, -1}, {m.Spec.Vocab}} {
		if _, err := r.Forward(toks); err == nil {
			t.Errorf("Forward(%v) gave no error", toks)
		}
	}

	s := *m.Spec
	s.RopeScaling = &RopeScaling{Factor: 8}
	if _, err := LoadReference(&Model{Spec: &s}); err == nil || !strings.Contains(err.Error(), "rope scaling") {
		t.Errorf("rope scaling: err = %v, want a refusal", err)
	}
	s = *m.Spec
	s.Activation = "gelu_tanh"
	if _, err := LoadReference(&Model{Spec: &s}); err == nil {
		t.Error("llama with gelu: no error")
	}
}
