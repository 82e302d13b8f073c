package model

import (
	"slices"
	"testing"

	"webpeft/engine/tokenizer"
)

// tokenizersAgree checks that a's and b's vocabularies encode alike.
func tokenizersAgree(t *testing.T, what string, a, b *Model) {
	t.Helper()
	ta, err := tokenizer.New(*a.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := tokenizer.New(*b.Vocab)
	if err != nil {
		t.Fatalf("%s: tokenizer from tokenizer.json: %v", what, err)
	}
	for _, s := range []string{"Hello world", " leading space", "tabs\tand\nnewlines", "ünïcödé 123"} {
		x := ta.Encode(s, tokenizer.EncodeOptions{})
		y := tb.Encode(s, tokenizer.EncodeOptions{})
		if !slices.Equal(x, y) {
			t.Errorf("%s: %q encodes to %v from GGUF but %v from tokenizer.json", what, s, x, y)
		}
	}
}
