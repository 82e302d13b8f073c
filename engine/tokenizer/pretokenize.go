package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Byte-level BPE first cuts text into words with a list of regexes, each
// applied to every piece the previous one left (matches and the gaps
// between them both become pieces, as in llama.cpp's unicode_regex_split
// and in tokenizers' Split(behavior="Isolated")). Go's regexp has no
// lookahead, which these patterns need (\s+(?!\S)), so every stage here
// is a small hand-written scanner over Go's Unicode tables; they follow
// llama.cpp's own hand-written gpt2 and llama3 splitters. The regexes are
// kept as text only to name the stages in tokenizer.json files.

// The regexes of the stages, as llama.cpp and tokenizer.json write them.
const (
	reGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	// reGPT2HF is reGPT2 as tokenizers' ByteLevel writes it; llama.cpp's
	// splitter behaves as if the final \s+ were there.
	reGPT2HF   = reGPT2 + `|\s+`
	reLlama3   = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reLlama3CS = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2    = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2CS  = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reDigit    = `\p{N}`
	reDigits   = `\p{N}+`
	rePunct    = `[\p{P}\$\+<=>\^~\|]+`
	reThree    = `[0-9][0-9][0-9]`
)

// stage cuts one piece of text into consecutive pieces covering it.
type stage func(s string, out []string) []string

// preTokenizer is one family of tokenizer.ggml.pre values.
type preTokenizer struct {
	name         string   // the canonical tokenizer.ggml.pre value
	aliases      []string // other values llama.cpp treats the same
	regexes      []string // the stages as regexes, for tokenizer.json
	stages       []stage
	ignoreMerges bool // a word that is a whole token is taken as is (llama3)
	addBOS       bool // llama.cpp's default for tokenizer.ggml.add_bos_token
}

// preTokenizers lists the supported families; the first whose regexes
// match a tokenizer.json's pre-tokenizer names it.
func preTokenizers() []preTokenizer {
	return []preTokenizer{
		{
			name: "gpt-2",
			aliases: []string{"mpt", "phi-2", "olmo", "jais", "trillion", "granite-docling", "exaone4",
				"jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat", "a.x-4.0", "mellum",
				"modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe"},
			regexes: []string{reGPT2},
			stages:  []stage{splitGPT2},
		},
		{
			name: "llama-bpe",
			aliases: []string{"llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
				"lfm2", "jina-v5-nano"},
			regexes:      []string{reLlama3},
			stages:       []stage{llama3Splitter(3)},
			ignoreMerges: true,
			addBOS:       true,
		},
		{
			// The llama3 regex without ignore_merges.
			name:    "dbrx",
			aliases: []string{"smaug-bpe", "chatglm-bpe", "glm4"},
			regexes: []string{reLlama3},
			stages:  []stage{llama3Splitter(3)},
		},
		{
			name: "qwen2",
			aliases: []string{"deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan",
				"solar-open", "grok-2"},
			regexes: []string{reQwen2},
			stages:  []stage{llama3Splitter(1)},
		},
		{
			name: "starcoder",
			aliases: []string{"refact", "smollm", "command-r", "codeshell", "exaone", "minerva-7b",
				"mellum2"},
			regexes: []string{reDigit, reGPT2},
			stages:  []stage{splitEachDigit, splitGPT2},
		},
		{
			name:    "default",
			regexes: []string{rePunct, reGPT2, reDigits, reThree},
			stages:  []stage{splitPunctRuns, splitGPT2, splitDigitRuns, splitThreeDigits},
		},
	}
}

// findPre returns the family of a tokenizer.ggml.pre value ("" is
// "default", as llama.cpp takes a missing key).
func findPre(name string) (preTokenizer, error) {
	if name == "" {
		name = "default"
	}
	for _, p := range preTokenizers() {
		if p.name == name {
			return p, nil
		}
		for _, a := range p.aliases {
			if a == name {
				return p, nil
			}
		}
	}
	return preTokenizer{}, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q", name)
}

// split runs every stage over text.
func (p *preTokenizer) split(text string) []string {
	pieces := []string{text}
	for _, st := range p.stages {
		next := make([]string, 0, len(pieces)+len(pieces)/2)
		for _, s := range pieces {
			next = st(s, next)
		}
		pieces = next
	}
	return pieces
}

// charClass is what the regexes ask of a character.
type charClass uint8

const (
	classOther     charClass = iota // [^\s\p{L}\p{N}]: punctuation, symbols, marks, controls
	classLetter                     // \p{L}
	classNumber                     // \p{N}
	classSpace                      // \s (Unicode White_Space)
	classUndefined                  // unassigned: llama.cpp's splitters give each its own piece
	classNone                       // past the end of the text
)

func classify(r rune) charClass {
	switch {
	case unicode.IsSpace(r):
		return classSpace
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.In(r, unicode.M, unicode.P, unicode.S, unicode.Z, unicode.C):
		return classOther
	}
	return classUndefined
}

// scanner walks one piece of text by runes. An invalid UTF-8 byte reads
// as U+FFFD, one byte wide, so the pieces still cover every input byte.
type scanner struct {
	s string
}

// at returns the rune at byte offset i, its width and class.
func (sc scanner) at(i int) (rune, int, charClass) {
	if i >= len(sc.s) {
		return -1, 0, classNone
	}
	r, w := utf8.DecodeRuneInString(sc.s[i:])
	return r, w, classify(r)
}

// run advances over consecutive runes of class c from i.
func (sc scanner) run(i int, c charClass) int {
	for {
		_, w, cl := sc.at(i)
		if cl != c {
			return i
		}
		i += w
	}
}

// spaces measures the whitespace run from i: its end and the end of its
// last '\r' or '\n' (0 if none).
func (sc scanner) spaces(i int) (end, lastNewline int) {
	for {
		r, w, cl := sc.at(i)
		if cl != classSpace {
			return i, lastNewline
		}
		i += w
		if r == '\r' || r == '\n' {
			lastNewline = i
		}
	}
}

// contraction returns the length of 's 't 're 've 'm 'll 'd at i, or 0.
func (sc scanner) contraction(i int, foldCase bool) int {
	if i+1 >= len(sc.s) || sc.s[i] != '\'' {
		return 0
	}
	lower := func(c byte) byte {
		if foldCase && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(sc.s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 >= len(sc.s) {
		return 0
	}
	switch string([]byte{lower(sc.s[i+1]), lower(sc.s[i+2])}) {
	case "re", "ve", "ll":
		return 3
	}
	return 0
}

// spaceRun matches \s+(?!\S)|\s+ at i: a run of whitespace, less its last
// character when a non-space follows (that one joins the next word).
func (sc scanner) spaceRun(i int) int {
	end, _ := sc.spaces(i)
	if end == i {
		return 0
	}
	if end < len(sc.s) {
		_, w := utf8.DecodeLastRuneInString(sc.s[i:end])
		if end-w > i {
			return end - w
		}
	}
	return end
}

// splitGPT2 is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func splitGPT2(s string, out []string) []string {
	sc := scanner{s}
	for i := 0; i < len(s); {
		end := sc.gpt2Word(i)
		out = append(out, s[i:end])
		i = end
	}
	return out
}

// gpt2Word returns the end of the GPT-2 word that starts at i.
func (sc scanner) gpt2Word(i int) int {
	if n := sc.contraction(i, false); n > 0 {
		return i + n
	}
	r, w, c := sc.at(i)
	start := i
	if r == ' ' {
		if _, _, next := sc.at(i + w); next == classLetter || next == classNumber || next == classOther {
			start, c = i+w, next
		}
	}
	if c == classLetter || c == classNumber || c == classOther {
		return sc.run(start, c)
	}
	if end := sc.spaceRun(i); end > i {
		return end
	}
	return i + w
}

// llama3Splitter is Llama 3's regex, with \p{N}{1,maxDigits}:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Qwen2 is the same with single digits.
func llama3Splitter(maxDigits int) stage {
	return func(s string, out []string) []string {
		sc := scanner{s}
		for i := 0; i < len(s); {
			end := sc.llama3Word(i, maxDigits)
			out = append(out, s[i:end])
			i = end
		}
		return out
	}
}

// llama3Word returns the end of the Llama 3 word that starts at i.
func (sc scanner) llama3Word(i, maxDigits int) int {
	if n := sc.contraction(i, true); n > 0 {
		return i + n
	}
	r, w, c := sc.at(i)
	_, _, next := sc.at(i + w)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c == classLetter {
		return sc.run(i, classLetter)
	}
	if r != '\r' && r != '\n' && c != classNumber && next == classLetter {
		return sc.run(i+w, classLetter)
	}
	// \p{N}{1,maxDigits}
	if c == classNumber {
		end := i
		for k := 0; k < maxDigits; k++ {
			_, dw, dc := sc.at(end)
			if dc != classNumber {
				break
			}
			end += dw
		}
		return end
	}
	// ' '?[^\s\p{L}\p{N}]+[\r\n]*
	if start, ok := sc.optionalSpaceThen(i, classOther); ok {
		end := sc.run(start, classOther)
		for end < len(sc.s) && (sc.s[end] == '\r' || sc.s[end] == '\n') {
			end++
		}
		return end
	}
	// \s*[\r\n]+
	if _, nl := sc.spaces(i); nl > 0 {
		return nl
	}
	if end := sc.spaceRun(i); end > i {
		return end
	}
	return i + w
}

// optionalSpaceThen reports whether ' '?c starts at i, and where c does.
func (sc scanner) optionalSpaceThen(i int, c charClass) (int, bool) {
	r, w, cl := sc.at(i)
	if cl == c {
		return i, true
	}
	if r == ' ' {
		if _, _, next := sc.at(i + w); next == c {
			return i + w, true
		}
	}
	return 0, false
}

// splitEachDigit is \p{N}: every number character alone, the rest between.
func splitEachDigit(s string, out []string) []string {
	return splitRuns(s, out, func(r rune) bool { return unicode.IsNumber(r) }, 1)
}

// splitDigitRuns is \p{N}+.
func splitDigitRuns(s string, out []string) []string {
	return splitRuns(s, out, func(r rune) bool { return unicode.IsNumber(r) }, 0)
}

// splitPunctRuns is [\p{P}\$\+<=>\^~\|]+.
func splitPunctRuns(s string, out []string) []string {
	isPunct := func(r rune) bool {
		switch r {
		case '$', '+', '<', '=', '>', '^', '~', '|':
			return true
		}
		return unicode.IsPunct(r)
	}
	return splitRuns(s, out, isPunct, 0)
}

// splitThreeDigits is [0-9][0-9][0-9]: groups of three ASCII digits.
func splitThreeDigits(s string, out []string) []string {
	start := 0 // start of the pending gap
	for i := 0; i+3 <= len(s); {
		if isASCIIDigit(s[i]) && isASCIIDigit(s[i+1]) && isASCIIDigit(s[i+2]) {
			if i > start {
				out = append(out, s[start:i])
			}
			out = append(out, s[i:i+3])
			i += 3
			start = i
			continue
		}
		i++
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitRuns cuts s into runs of runes that match and runs that do not;
// a matching run longer than maxRun (if > 0) is cut every maxRun runes.
func splitRuns(s string, out []string, match func(rune) bool, maxRun int) []string {
	start, n, inMatch := 0, 0, false
	for i, r := range s {
		m := match(r)
		if i > start && (m != inMatch || (m && maxRun > 0 && n == maxRun)) {
			out = append(out, s[start:i])
			start, n = i, 0
		}
		inMatch = m
		n++
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
