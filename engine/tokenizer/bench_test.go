package tokenizer

import (
	"strings"
	"testing"
)

// benchText is ~100 KB of the test strings repeated.
func benchText(b *testing.B) string {
	var sb strings.Builder
	for sb.Len() < 100_000 {
		for _, c := range loadVectors(b, "ggml-vocab-gpt-2.gguf") {
			sb.WriteString(c.text)
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

func BenchmarkEncode(b *testing.B) {
	text := benchText(b)
	for _, name := range vectorVocabs {
		tok := newTokenizer(b, loadGGUFVocab(b, name))
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.Encode(text, EncodeOptions{})
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	text := benchText(b)
	for _, name := range vectorVocabs {
		tok := newTokenizer(b, loadGGUFVocab(b, name))
		ids := tok.Encode(text, EncodeOptions{})
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.Decode(ids)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for _, name := range vectorVocabs {
		v := loadGGUFVocab(b, name)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				newTokenizer(b, v)
			}
		})
	}
}
