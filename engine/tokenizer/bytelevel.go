package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteMap is GPT-2's reversible byte <-> rune mapping. Byte-level BPE
// vocabularies spell every byte as a printable rune so that no token holds
// a space or a control character: printable Latin-1 bytes stand for
// themselves and the other 68 bytes take the runes from U+0100 on, in
// byte order (space, 0x20, becomes "Ġ", U+0120).
type byteMap struct {
	toRune [256]rune
	toByte map[rune]byte
}

func newByteMap() *byteMap {
	m := &byteMap{toByte: make(map[rune]byte, 256)}
	next := rune(256)
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !printableLatin1(b) {
			r = next
			next++
		}
		m.toRune[b] = r
		m.toByte[r] = byte(b)
	}
	return m
}

// printableLatin1 reports the bytes GPT-2 keeps as themselves:
// '!'..'~', '¡'..'¬' and '®'..'ÿ'.
func printableLatin1(b int) bool {
	return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
}

// encode spells the bytes of s in the mapping's runes.
func (m *byteMap) encode(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteRune(m.toRune[s[i]])
	}
	return sb.String()
}

// decode turns mapped text back into bytes. A rune outside the mapping
// (only in a malformed vocabulary) is kept as its UTF-8.
func (m *byteMap) decode(dst []byte, s string) []byte {
	for _, r := range s {
		if b, ok := m.toByte[r]; ok {
			dst = append(dst, b)
		} else {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}
