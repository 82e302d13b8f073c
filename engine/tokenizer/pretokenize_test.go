package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// The hand-written pre-tokenizer stages are checked against the regexes
// they stand for, run by a backtracking engine that has lookahead.

// reference splits text with a family's regexes.
type reference struct {
	p   preTokenizer
	res []*regexp2.Regexp
}

func references() []reference {
	var refs []reference
	for _, p := range preTokenizers() {
		ref := reference{p: p}
		for _, src := range p.regexes {
			ref.res = append(ref.res, regexp2.MustCompile(src))
		}
		refs = append(refs, ref)
	}
	return refs
}

// split is the reference: each regex in turn splits every piece into its
// matches and the gaps between them.
func (ref reference) split(t testing.TB, text string) []string {
	t.Helper()
	pieces := []string{text}
	for _, re := range ref.res {
		var next []string
		for _, p := range pieces {
			locs, err := re.FindAllStringIndex(p, -1)
			if err != nil {
				t.Fatal(err)
			}
			prev := 0
			for _, l := range locs {
				if l[0] > prev {
					next = append(next, p[prev:l[0]])
				}
				if l[1] > l[0] {
					next = append(next, p[l[0]:l[1]])
				}
				prev = l[1]
			}
			if prev < len(p) {
				next = append(next, p[prev:])
			}
		}
		pieces = next
	}
	return pieces
}

// check compares the family's splitter with its regexes.
func (ref reference) check(t testing.TB, text string) {
	t.Helper()
	if text == "" {
		return
	}
	got := ref.p.split(text)
	want := ref.split(t, text)
	if !equalStrings(got, want) {
		t.Fatalf("%s split %q:\n got  %q\n want %q", ref.p.name, text, got, want)
	}
}

// pieceAlphabet mixes the characters the regexes treat differently.
var pieceAlphabet = []rune{
	'a', 'Z', 's', 'S', 't', 'T', 'r', 'e', 'v', 'm', 'l', 'L', 'd', 'D', 'é', 'ß', 'Ж', 'ж', 'ع', '中', 'ひ',
	'0', '7', '٣', '৩', 'Ⅷ', '½', '²',
	' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u0085', '\u2028', '\u3000', '\u2009',
	'\'', '.', ',', '!', '?', '-', '_', '$', '+', '<', '=', '>', '^', '~', '|', '`', '"', '(', '«', '…',
	'\u0301', '\u200d', '🦙', '€', '\x00', '\x1f',
}

func randomText(r *rand.Rand, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteRune(pieceAlphabet[r.IntN(len(pieceAlphabet))])
	}
	return sb.String()
}

func TestPreTokenizersMatchRegexes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var texts []string
	for _, name := range vectorVocabs {
		for _, c := range loadVectors(t, name) {
			texts = append(texts, c.text)
		}
	}
	for range 300 {
		texts = append(texts, randomText(r, 1+r.IntN(24)))
	}
	for _, ref := range references() {
		for _, text := range texts {
			ref.check(t, text)
		}
	}
}

// FuzzPreTokenizers compares every family with its regexes on valid
// UTF-8 without unassigned code points (where llama.cpp's splitters, and
// so ours, part from the regexes on purpose).
func FuzzPreTokenizers(f *testing.F) {
	for _, s := range []string{"Hello world", "  \n\t x's 123456", "ÄpFel!!  ", "a\u00a0 b\r\n\r\n c"} {
		f.Add(s)
	}
	refs := references()
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || len(text) > 64 {
			return
		}
		for _, r := range text {
			if classify(r) == classUndefined || r == utf8.RuneError {
				return
			}
		}
		for _, ref := range refs {
			ref.check(t, text)
		}
	})
}

func TestFindPre(t *testing.T) {
	for name, want := range map[string]string{"": "default", "mpt": "gpt-2", "llama3": "llama-bpe",
		"smollm": "starcoder", "refact": "starcoder", "qwen2": "qwen2", "default": "default"} {
		p, err := findPre(name)
		if err != nil || p.name != want {
			t.Errorf("findPre(%q) = %q, %v; want %q", name, p.name, err, want)
		}
	}
	if _, err := findPre("no-such-pre"); err == nil {
		t.Error("unknown pre-tokenizer accepted")
	}
}
