package tokenizer

import "strings"

// fragment is a stretch of input: plain text (id < 0) or one special token.
type fragment struct {
	text string
	id   int
}

// partition cuts text around the special tokens written in it, as
// llama.cpp's tokenizer_st_partition does: each special token in turn,
// longest first, splits every plain fragment left by the ones before it.
// Control and unknown tokens take part only when parseSpecial is set;
// user-defined tokens always do.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, id: -1}}
	for _, id := range t.specials {
		if !parseSpecial && t.vocab.Types[id] != TypeUserDefined {
			continue
		}
		frags = splitOn(frags, t.vocab.Tokens[id], int(id))
	}
	return frags
}

// splitOn cuts every plain fragment at each occurrence of tok.
func splitOn(frags []fragment, tok string, id int) []fragment {
	if !anyContains(frags, tok) {
		return frags
	}
	var out []fragment
	for _, f := range frags {
		if f.id >= 0 || !strings.Contains(f.text, tok) {
			out = append(out, f)
			continue
		}
		s := f.text
		for {
			i := strings.Index(s, tok)
			if i < 0 {
				break
			}
			if i > 0 {
				out = append(out, fragment{text: s[:i], id: -1})
			}
			out = append(out, fragment{id: id})
			s = s[i+len(tok):]
		}
		if s != "" {
			out = append(out, fragment{text: s, id: -1})
		}
	}
	return out
}

func anyContains(frags []fragment, tok string) bool {
	for _, f := range frags {
		if f.id < 0 && strings.Contains(f.text, tok) {
			return true
		}
	}
	return false
}
