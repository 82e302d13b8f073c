package tokenizer

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"testing"

	"webpeft/engine/format/gguf"
)

// trainText is a small English text with repeats, numbers, punctuation,
// newlines and a few non-ASCII characters.
const trainText = `Fellow-Citizens of the Senate and House of Representatives: In the midst of
unprecedented political troubles we have cause of great gratitude to God for unusual
good health and most abundant harvests. The Union is the Union; the States are the States.
It's 1861, and we'll see whether the nation, so conceived and so dedicated, can long endure.
The revenue of the year ending June 30, 1861, was $86,835,900.27 — “not enough,” they said.
Naïve café owners paid 5% more.   Spaces   and	tabs.

The end of the message of the President of the United States.
`

// trainCorpus repeats trainText, so that every pair occurs at least
// twice and a 400-token vocabulary fills up.
var trainCorpus = strings.Repeat(trainText, 2)

func trainVocab(t testing.TB, size int, texts ...string) Vocab {
	t.Helper()
	tr, err := NewBPETrainer(TrainOptions{VocabSize: size, AddBOS: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		tr.Add(s)
	}
	v, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBPETrainLayout: the vocabulary has the size asked for, the special
// token at id 0 (BOS and EOS, control), the 256 bytes in byte order, then
// one token per merge that made a new text, in the order learned.
func TestBPETrainLayout(t *testing.T) {
	v := trainVocab(t, 400, trainCorpus)
	if len(v.Tokens) != 400 {
		t.Fatalf("%d tokens, want 400", len(v.Tokens))
	}
	if v.Model != ModelGPT2 || v.Pre != "gpt-2" || v.BOS != 0 || v.EOS != 0 || !v.AddBOS || v.Tokens[0] != "<|endoftext|>" || v.Types[0] != TypeControl {
		t.Fatalf("model %q pre %q BOS %d EOS %d AddBOS %v token 0 %q type %d", v.Model, v.Pre, v.BOS, v.EOS, v.AddBOS, v.Tokens[0], v.Types[0])
	}
	bm := newByteMap()
	for b := 0; b < 256; b++ {
		if v.Tokens[1+b] != string(bm.toRune[b]) || v.Types[1+b] != TypeNormal {
			t.Fatalf("token %d is %q, want byte %#x", 1+b, v.Tokens[1+b], b)
		}
	}
	next := 257
	seen := map[string]bool{}
	for i, m := range v.Merges {
		l, r, ok := splitMerge(m)
		if !ok || seen[m] {
			t.Fatalf("merge %d %q is malformed or repeated", i, m)
		}
		seen[m] = true
		if slices.Index(v.Tokens, l) >= next || slices.Index(v.Tokens, r) >= next {
			t.Fatalf("merge %d %q uses a token made later", i, m)
		}
		if id := slices.Index(v.Tokens, l+r); id == next {
			next++
		} else if id < 0 || id > next {
			t.Fatalf("merge %d %q makes token %d, want %d or an earlier one", i, m, id, next)
		}
	}
	if next != len(v.Tokens) {
		t.Fatalf("merges made tokens up to %d of %d", next, len(v.Tokens))
	}
	if v.Merges[0] != "Ġ t" && v.Merges[0] != "h e" {
		t.Errorf("first merge %q is not one of the most frequent pairs", v.Merges[0])
	}
}

// TestBPETrainDeterministic: the same text gives the same vocabulary,
// whatever the map order of one run, and however the text is cut into
// Add calls at word boundaries.
func TestBPETrainDeterministic(t *testing.T) {
	a := trainVocab(t, 350, trainText)
	lines := strings.SplitAfter(trainText, "\n")
	for i := 0; i < 3; i++ {
		b := trainVocab(t, 350, trainText)
		if !slices.Equal(a.Tokens, b.Tokens) || !slices.Equal(a.Merges, b.Merges) {
			t.Fatal("two runs on the same text differ")
		}
	}
	// Reversed lines hold the same words, so the counts are the same.
	slices.Reverse(lines)
	c := trainVocab(t, 350, lines...)
	if !slices.Equal(a.Merges, c.Merges) {
		t.Error("the order of Add calls changed the merges")
	}
}

// naiveMerges is the textbook trainer: recount every pair of every word
// before each merge, take the most frequent (ties: smaller left id, then
// right id), merge it everywhere.
func naiveMerges(text string, vocab int) []string {
	pre, _ := findPre("gpt-2")
	bm := newByteMap()
	var tokens []string
	ids := map[string]int{}
	add := func(s string) int {
		if id, ok := ids[s]; ok {
			return id
		}
		ids[s] = len(tokens)
		tokens = append(tokens, s)
		return len(tokens) - 1
	}
	add("<|endoftext|>")
	for b := 0; b < 256; b++ {
		add(string(bm.toRune[b]))
	}
	var words [][]int
	for _, w := range pre.split(text) {
		syms := make([]int, len(w))
		for i := range len(w) {
			syms[i] = 1 + int(w[i])
		}
		words = append(words, syms)
	}
	var merges []string
	for len(tokens) < vocab {
		counts := map[[2]int]int{}
		for _, w := range words {
			for i := 1; i < len(w); i++ {
				counts[[2]int{w[i-1], w[i]}]++
			}
		}
		var pairs [][2]int
		for p, c := range counts {
			if c >= 2 {
				pairs = append(pairs, p)
			}
		}
		if len(pairs) == 0 {
			break
		}
		sort.Slice(pairs, func(i, j int) bool {
			a, b := pairs[i], pairs[j]
			if counts[a] != counts[b] {
				return counts[a] > counts[b]
			}
			return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
		})
		p := pairs[0]
		id := add(tokens[p[0]] + tokens[p[1]])
		merges = append(merges, tokens[p[0]]+" "+tokens[p[1]])
		for wi, w := range words {
			var out []int
			for i := 0; i < len(w); i++ {
				if i+1 < len(w) && w[i] == p[0] && w[i+1] == p[1] {
					out = append(out, id)
					i++
				} else {
					out = append(out, w[i])
				}
			}
			words[wi] = out
		}
	}
	return merges
}

// TestBPETrainMatchesNaive: the incremental counts pick exactly the
// merges that recounting from scratch picks, including runs of one
// repeated byte, where pairs overlap.
func TestBPETrainMatchesNaive(t *testing.T) {
	text := trainText + strings.Repeat("aaaaaaa bbbb aaa ", 7) + "========== ---- ...... !!!!"
	want := naiveMerges(text, 420)
	got := trainVocab(t, 420, text).Merges
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("merge %d is %q, the naive trainer's %q (%d vs %d merges)", i, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("%d merges, the naive trainer %d", len(got), len(want))
	}
}

// TestBPETrainRoundTrip: text encodes to fewer tokens than bytes, decodes
// back exactly (seen and unseen text), and re-encoding decoded tokens gives
// the same tokens.
func TestBPETrainRoundTrip(t *testing.T) {
	tok := newTokenizer(t, trainVocab(t, 400, trainCorpus))
	for _, s := range []string{trainText, "Unseen words: zebra, quixotic, 日本語, emoji 🙂, tabs\t\tand\r\nCRLF.", " leading and trailing  ", ""} {
		ids := tok.Encode(s, EncodeOptions{})
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		if again := tok.Encode(tok.Decode(ids), EncodeOptions{}); !slices.Equal(again, ids) {
			t.Fatalf("re-encoding %q changed its tokens", s)
		}
	}
	if n := len(tok.Encode(trainText, EncodeOptions{})); n >= len(trainText)/2 {
		t.Errorf("training text: %d tokens for %d bytes", n, len(trainText))
	}
	if ids := tok.Encode("the end", EncodeOptions{AddBOS: true}); ids[0] != 0 {
		t.Errorf("BOS is %d, want 0", ids[0])
	}
}

// TestBPETrainStopsEarly: with nothing left that occurs twice, training
// stops below the size asked for; with no merge at all it fails.
func TestBPETrainStopsEarly(t *testing.T) {
	v := trainVocab(t, 4096, "abc abc xyz")
	if len(v.Tokens) >= 4096 || len(v.Tokens) < 257 {
		t.Fatalf("%d tokens", len(v.Tokens))
	}
	tr, _ := NewBPETrainer(TrainOptions{VocabSize: 300})
	tr.Add("no pair twice")
	if _, err := tr.Train(); err == nil {
		t.Error("a text with no repeated pair: no error")
	}
}

func TestBPETrainOptions(t *testing.T) {
	for _, opt := range []TrainOptions{
		{VocabSize: 200},
		{VocabSize: 4096, Specials: []string{}},
		{VocabSize: 4096, Specials: []string{"<a>", "<a>"}},
		{VocabSize: 4096, Specials: []string{""}},
		{VocabSize: 4096, Specials: []string{"a"}},
		{VocabSize: 4096, Pre: "no-such-pre"},
	} {
		if _, err := NewBPETrainer(opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
	tr, err := NewBPETrainer(TrainOptions{VocabSize: 300, Specials: []string{"<|endoftext|>", "<|pad|>"}, Pre: "smollm"})
	if err != nil {
		t.Fatal(err)
	}
	tr.Add(trainText)
	v, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	if v.Pre != "starcoder" || v.Tokens[1] != "<|pad|>" || v.Types[1] != TypeControl || v.AddBOS {
		t.Errorf("pre %q token 1 %q type %d AddBOS %v", v.Pre, v.Tokens[1], v.Types[1], v.AddBOS)
	}
	if total, unique := tr.Words(); total == 0 || unique == 0 || int64(unique) > total {
		t.Errorf("Words() = %d, %d", total, unique)
	}
}

// TestBPETrainNeverSpellsSpecials: a special token made of letters, which
// the text holds as a word, is never the result of a merge.
func TestBPETrainNeverSpellsSpecials(t *testing.T) {
	tr, err := NewBPETrainer(TrainOptions{VocabSize: 300, Specials: []string{"EOS", "ab"}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Add(strings.Repeat("EOS ab EOS ab abc ", 20))
	v, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range v.Merges {
		if l, r, _ := splitMerge(m); l+r == "EOS" || l+r == "ab" {
			t.Fatalf("merge %q spells a special token", m)
		}
	}
	tok := newTokenizer(t, v)
	if ids := tok.Encode("EOS ab", EncodeOptions{}); slices.Contains(ids, 0) || slices.Contains(ids, 1) {
		t.Errorf("plain text encodes to special tokens: %v", ids)
	}
}

// TestBPETrainFiles: a trained vocabulary survives tokenizer.json and
// GGUF metadata unchanged and encodes the same after both.
func TestBPETrainFiles(t *testing.T) {
	v := newTokenizer(t, trainVocab(t, 400, trainCorpus)).Vocab()
	js, err := ToTokenizerJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := FromTokenizerJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	data := ggufBytes(t, v)
	f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	fromGGUF, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	want := newTokenizer(t, v).Encode(trainText, EncodeOptions{AddBOS: true})
	for _, w := range []Vocab{fromJSON, fromGGUF} {
		w = newTokenizer(t, w).Vocab()
		checkSameVocab(t, v, w)
		if got := newTokenizer(t, w).Encode(trainText, EncodeOptions{AddBOS: w.AddBOS}); !slices.Equal(got, want) {
			t.Error("the vocabulary read back encodes differently")
		}
	}
}
