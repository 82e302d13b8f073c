package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// encodeByteLevel appends the tokens of plain text for a byte-level BPE
// vocabulary: pre-tokenize into words, spell each word's bytes in GPT-2's
// runes, then merge by rank.
func (t *Tokenizer) encodeByteLevel(out []int, text string, sc *scratch) []int {
	for _, word := range t.pre.split(text) {
		out = t.encodeWord(out, t.bytes.encode(word), sc)
	}
	return out
}

// encodeWord merges one byte-spelled word.
func (t *Tokenizer) encodeWord(out []int, word string, sc *scratch) []int {
	if id, ok := t.ids[word]; ok && t.pre.ignoreMerges {
		return append(out, int(id))
	}
	syms := sc.syms[:0]
	for i := 0; i < len(word); {
		_, w := utf8.DecodeRuneInString(word[i:])
		id, ok := t.ids[word[i:i+w]]
		if !ok {
			id = -1
		}
		syms = append(syms, symbol{start: i, end: i + w, id: id})
		i += w
	}
	sc.syms = syms
	for _, s := range mergeWord(word, syms, t.bpePair, &sc.heap) {
		switch {
		case s.id >= 0:
			out = append(out, int(s.id))
		case t.vocab.UNK >= 0:
			// Only a vocabulary that lacks one of the 256 byte runes
			// gets here; llama.cpp drops the byte, tokenizers uses UNK.
			out = append(out, t.vocab.UNK)
		}
	}
	return out
}

// bpePair looks the pair up among the merge rules.
func (t *Tokenizer) bpePair(_ string, l, r *symbol) (float64, int32, bool) {
	if l.id < 0 || r.id < 0 {
		return 0, 0, false
	}
	m, ok := t.merges[pairKey(l.id, r.id)]
	return float64(m.rank), m.id, ok
}

// encodeSentencePiece appends the tokens of plain text for a SentencePiece
// vocabulary: spaces become "▁" (with one more in front when the model
// adds a space prefix and the text starts the input or follows a special
// token), characters merge while some adjacent pair is a token, the
// highest-scoring pair first, and what is left that is not a token falls
// back to its bytes as <0xXX> tokens.
func (t *Tokenizer) encodeSentencePiece(out []int, text string, afterSpecial bool, sc *scratch) []int {
	if !t.vocab.NoSpacePrefix && afterSpecial {
		text = " " + text
	}
	word := strings.ReplaceAll(text, " ", "▁")
	syms := sc.syms[:0]
	for i := 0; i < len(word); {
		_, w := utf8.DecodeRuneInString(word[i:])
		syms = append(syms, symbol{start: i, end: i + w, id: t.textID(word[i : i+w])})
		i += w
	}
	sc.syms = syms
	for _, s := range mergeWord(word, syms, t.spmPair, &sc.heap) {
		out = t.appendPiece(out, word[s.start:s.end], s.id)
	}
	return out
}

// textID is the token that plain text may turn into, -1 if none. Control,
// unknown and byte tokens are reached only through special-token parsing
// and byte fallback, as in SentencePiece (llama.cpp would let merges
// reach them too, which no real vocabulary relies on).
func (t *Tokenizer) textID(s string) int32 {
	id, ok := t.ids[s]
	if !ok {
		return -1
	}
	switch t.vocab.Types[id] {
	case TypeControl, TypeUnknown, TypeByte:
		return -1
	}
	return id
}

// spmPair merges two symbols whose text together is a token, best score
// first.
func (t *Tokenizer) spmPair(word string, l, r *symbol) (float64, int32, bool) {
	id := t.textID(word[l.start:r.end])
	if id < 0 {
		return 0, 0, false
	}
	return -float64(t.scores[id]), id, true
}

// appendPiece appends a merged symbol, or, when it is no token, its bytes
// as byte tokens; a vocabulary without them gets one UNK instead, as
// SentencePiece without byte fallback gives.
func (t *Tokenizer) appendPiece(out []int, text string, id int32) []int {
	if id >= 0 {
		return append(out, int(id))
	}
	for i := 0; i < len(text); i++ {
		if t.byteIDs[text[i]] < 0 {
			if t.vocab.UNK >= 0 {
				out = append(out, t.vocab.UNK)
			}
			return out
		}
	}
	for i := 0; i < len(text); i++ {
		out = append(out, int(t.byteIDs[text[i]]))
	}
	return out
}
