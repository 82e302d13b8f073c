package tokenizer

import (
	"bytes"
	"testing"

	"webpeft/engine/format/gguf"
)

// ggufBytes writes v's tokenizer keys into a tensor-less GGUF file.
func ggufBytes(t testing.TB, v Vocab) []byte {
	t.Helper()
	b := gguf.NewBuilder()
	add := func(key string, value any) {
		if err := b.AddKV(key, value); err != nil {
			t.Fatal(err)
		}
	}
	add(keyModel, v.Model)
	add(keyPre, v.Pre)
	add(keyTokens, v.Tokens)
	if len(v.Scores) > 0 {
		add(keyScores, v.Scores)
	}
	if len(v.Types) > 0 {
		add(keyTypes, v.Types)
	}
	if len(v.Merges) > 0 {
		add(keyMerges, v.Merges)
	}
	for key, id := range map[string]int{keyBOS: v.BOS, keyEOS: v.EOS, keyUNK: v.UNK, keyPAD: v.PAD} {
		if id >= 0 {
			add(key, uint32(id))
		}
	}
	add(keyAddBOS, v.AddBOS)
	add(keyAddEOS, v.AddEOS)
	add(keySpacePrefix, !v.NoSpacePrefix)
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGGUFRoundTrip(t *testing.T) {
	for _, v := range []Vocab{tinyByteLevel(t), tinySentencePiece()} {
		data := ggufBytes(t, v)
		f, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		w, err := FromGGUF(f)
		if err != nil {
			t.Fatal(err)
		}
		checkSameVocab(t, newTokenizer(t, v).Vocab(), newTokenizer(t, w).Vocab())
	}
}

// tinySentencePiece is a SentencePiece vocabulary with byte fallback.
func tinySentencePiece() Vocab {
	v := Vocab{Model: ModelLlama, Pre: "default", Tokens: []string{"<unk>", "<s>", "</s>"}, BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, byteTokenText(byte(b)))
	}
	v.Tokens = append(v.Tokens, "▁", "a", "b", "H", "e", "l", "o", "▁H", "el", "ll", "▁He", "lo", "llo", "▁Hello")
	v.Scores = make([]float32, len(v.Tokens))
	for i := range v.Scores {
		v.Scores[i] = -float32(i)
	}
	return v
}

func TestTinySentencePiece(t *testing.T) {
	tok := newTokenizer(t, tinySentencePiece())
	ids := tok.Encode("Hello ab€", EncodeOptions{AddBOS: true})
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, tok.TokenText(id))
	}
	// Merges are greedy by score: "▁H" (best) then "el" then "lo"; "▁Hello"
	// is never reached, since no pair of those makes it.
	want := []string{"<s>", "▁H", "el", "lo", "▁", "a", "b", "<0xE2>", "<0x82>", "<0xAC>"}
	if !equalStrings(pieces, want) {
		t.Errorf("pieces %q, want %q", pieces, want)
	}
	if s := tok.Decode(ids); s != "Hello ab€" {
		t.Errorf("Decode = %q", s)
	}
	noPrefix := tinySentencePiece()
	noPrefix.NoSpacePrefix = true
	tok = newTokenizer(t, noPrefix)
	if got := tok.Encode("Hello", EncodeOptions{}); tok.TokenText(got[0]) != "H" {
		t.Errorf("without space prefix: %v", got)
	}
}

// FuzzFromGGUF reads arbitrary bytes as a GGUF file and its tokenizer:
// an error, or a tokenizer that works.
func FuzzFromGGUF(f *testing.F) {
	f.Add(ggufBytes(f, tinyByteLevel(f)))
	f.Add(ggufBytes(f, tinySentencePiece()))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := gguf.Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		v, err := FromGGUF(g)
		if err != nil {
			return
		}
		tok, err := New(v)
		if err != nil {
			t.Fatalf("FromGGUF gave a vocabulary New refuses: %v", err)
		}
		for _, id := range tok.Encode("Hello <s> wörld 🦙", EncodeOptions{AddBOS: true, ParseSpecial: true}) {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
	})
}
