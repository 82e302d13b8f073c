package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns token ids back into text. Control and unknown tokens (BOS,
// EOS, <unk>, ...) and ids out of range give nothing; user-defined tokens
// give their text. For SentencePiece vocabularies that add a space prefix,
// the first text token loses its leading space, also after a leading BOS,
// so that Decode(Encode(s)) == s. (llama.cpp strips it only when the first
// token is text; tokenizers' Strip decoder also strips after BOS.) Bytes
// that do not form UTF-8 come out as U+FFFD, one per byte, so the result
// is always valid UTF-8. No "clean up tokenization spaces" is applied:
// byte-level vocabularies decode to exactly the bytes they encoded.
func (t *Tokenizer) Decode(ids []int) string {
	d := t.NewStreamDecoder()
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(d.Push(id))
	}
	sb.WriteString(d.Flush())
	return sb.String()
}

// StreamDecoder decodes tokens one at a time, for printing text while it
// is generated. It holds back the bytes of a character that is not yet
// complete (a byte-fallback token such as <0xE2> carries a third of "€"),
// so it never returns invalid UTF-8; the concatenation of what Push and
// Flush return equals Decode of all ids pushed.
type StreamDecoder struct {
	t          *Tokenizer
	held       []byte // the start of an incomplete UTF-8 character
	stripSpace bool   // the next text piece loses one leading space
}

// NewStreamDecoder decodes a sequence from its start, as Decode does.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t, stripSpace: t.stripsLeadingSpace()}
}

// NewContinuationDecoder decodes tokens that continue earlier text, such
// as those generated after a prompt: it keeps the leading space of the
// first word, which a SentencePiece vocabulary spells as part of it.
func (t *Tokenizer) NewContinuationDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

func (t *Tokenizer) stripsLeadingSpace() bool {
	return t.vocab.Model == ModelLlama && !t.vocab.NoSpacePrefix
}

// Push adds token id and returns the text it completes (often all of it,
// sometimes nothing yet).
func (d *StreamDecoder) Push(id int) string {
	p := d.t.piece(nil, id)
	if len(p) == 0 {
		return ""
	}
	if d.stripSpace {
		d.stripSpace = false
		if p[0] == ' ' && d.t.TokenType(id) != TypeUserDefined {
			p = p[1:]
		}
	}
	d.held = append(d.held, p...)
	return d.emit(false)
}

// Flush returns what is held back, each byte of an unfinished character
// as U+FFFD, and leaves the decoder empty.
func (d *StreamDecoder) Flush() string {
	return d.emit(true)
}

// emit returns the held bytes that form whole characters (all of them
// when final), with invalid bytes replaced.
func (d *StreamDecoder) emit(final bool) string {
	var sb strings.Builder
	i := 0
	for i < len(d.held) {
		rest := d.held[i:]
		if !final && !utf8.FullRune(rest) {
			break
		}
		r, w := utf8.DecodeRune(rest)
		if r == utf8.RuneError && w == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(rest[:w])
		}
		i += w
	}
	d.held = append(d.held[:0], d.held[i:]...)
	return sb.String()
}

// piece appends the bytes token id stands for in decoded text.
func (t *Tokenizer) piece(dst []byte, id int) []byte {
	if id < 0 || id >= len(t.vocab.Tokens) {
		return dst
	}
	text := t.vocab.Tokens[id]
	switch t.vocab.Types[id] {
	case TypeNormal:
		if t.vocab.Model == ModelGPT2 {
			return t.bytes.decode(dst, text)
		}
		return append(dst, strings.ReplaceAll(text, "▁", " ")...)
	case TypeByte:
		if b, ok := byteTokenValue(text); ok {
			return append(dst, b)
		}
	case TypeUserDefined:
		return append(dst, text...)
	}
	return dst // control, unknown, unused, undefined
}
