package tokenizer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"webpeft/engine/format/gguf"
)

// The llama.cpp test vectors: vocabulary-only GGUF files, strings, and
// the ids llama.cpp gives them (no BOS, no special parsing).
const vectorsDir = "../../testdata/tokenizers"

var vectorVocabs = []string{"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"}

type vectorCase struct {
	text string
	ids  []int
}

// loadGGUFVocab reads a vocabulary through engine/format/gguf.
func loadGGUFVocab(t testing.TB, name string) Vocab {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromGGUF(g)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadVectors(t testing.TB, name string) []vectorCase {
	t.Helper()
	inp, err := os.ReadFile(filepath.Join(vectorsDir, name+".inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(vectorsDir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	texts := strings.Split(string(inp), sep)
	if texts[len(texts)-1] != "" {
		t.Fatalf("%s.inp does not end with the separator", name)
	}
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d strings but %d id lines", name, len(texts), len(lines))
	}
	cases := make([]vectorCase, len(texts))
	for i, text := range texts {
		cases[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", name, i+1, err)
			}
			cases[i].ids = append(cases[i].ids, id)
		}
	}
	return cases
}

func newTokenizer(t testing.TB, v Vocab) *Tokenizer {
	t.Helper()
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkVectors encodes every string and counts matches.
func checkVectors(t *testing.T, tok *Tokenizer, cases []vectorCase) {
	t.Helper()
	pass := 0
	for i, c := range cases {
		got := tok.Encode(c.text, EncodeOptions{})
		if equalInts(got, c.ids) {
			pass++
			continue
		}
		t.Errorf("case %d %q:\n got  %v\n want %v", i, c.text, got, c.ids)
	}
	t.Logf("%d/%d strings match llama.cpp", pass, len(cases))
}

func TestLlamaCppVectors(t *testing.T) {
	for _, name := range vectorVocabs {
		t.Run(name, func(t *testing.T) {
			checkVectors(t, newTokenizer(t, loadGGUFVocab(t, name)), loadVectors(t, name))
		})
	}
}
