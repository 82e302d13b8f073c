package tokenizer

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// tinyByteLevel is a byte-level vocabulary of the 256 byte runes, a few
// merged tokens and some special ones.
func tinyByteLevel(t testing.TB) Vocab {
	t.Helper()
	m := newByteMap()
	v := Vocab{Model: ModelGPT2, Pre: "gpt-2", BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, string(m.toRune[b]))
	}
	v.Tokens = append(v.Tokens, "he", "ll", "hell", "hello", "Ġh", "Ġhello",
		"<|im_start|>", "<|im_end|>", "<tool>", "<|im_start|>x")
	v.Merges = []string{"h e", "l l", "he ll", "hell o", "Ġ h"}
	v.Types = make([]int32, len(v.Tokens))
	for i := range v.Types {
		v.Types[i] = TypeNormal
	}
	n := len(v.Tokens)
	v.Types[n-4], v.Types[n-3], v.Types[n-2], v.Types[n-1] = TypeControl, TypeControl, TypeUserDefined, TypeControl
	v.BOS, v.EOS = n-4, n-3
	return v
}

func TestTinyByteLevelMerges(t *testing.T) {
	tok := newTokenizer(t, tinyByteLevel(t))
	hello, _ := tok.TokenID("hello")
	space, _ := tok.TokenID("Ġ")
	// In " hello" the better-ranked "h e" merges before "Ġ h" can, so
	// the space stays alone.
	got := tok.Encode("hello hello", EncodeOptions{})
	if want := []int{hello, space, hello}; !equalInts(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
	if s := tok.Decode(got); s != "hello hello" {
		t.Fatalf("Decode = %q", s)
	}
}

func TestSpecialTokens(t *testing.T) {
	tok := newTokenizer(t, tinyByteLevel(t))
	start, _ := tok.TokenID("<|im_start|>")
	longer, _ := tok.TokenID("<|im_start|>x")
	tool, _ := tok.TokenID("<tool>")
	text := "<|im_start|>hello<tool><|im_start|>x"

	plain := tok.Encode(text, EncodeOptions{})
	if has(plain, start) || has(plain, longer) {
		t.Errorf("control tokens matched without ParseSpecial: %v", plain)
	}
	if !has(plain, tool) {
		t.Errorf("user-defined token not matched without ParseSpecial: %v", plain)
	}

	parsed := tok.Encode(text, EncodeOptions{ParseSpecial: true})
	hello, _ := tok.TokenID("hello")
	want := []int{start, hello, tool, longer} // the longest special wins
	if !equalInts(parsed, want) {
		t.Errorf("ParseSpecial: got %v, want %v", parsed, want)
	}
	if s := tok.Decode(parsed); s != "hello<tool>" {
		t.Errorf("Decode drops control tokens, keeps user-defined: got %q", s)
	}
	withBOS := tok.Encode("hello", EncodeOptions{AddBOS: true, AddEOS: true})
	if !equalInts(withBOS, []int{tok.BOS(), hello, tok.EOS()}) {
		t.Errorf("AddBOS/AddEOS: %v", withBOS)
	}
}

func has(ids []int, id int) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestSpecialTokensRealVocabs(t *testing.T) {
	gpt2 := newTokenizer(t, loadGGUFVocab(t, "ggml-vocab-gpt-2.gguf"))
	got := gpt2.Encode("a<|endoftext|>b", EncodeOptions{ParseSpecial: true})
	if len(got) != 3 || got[1] != 50256 {
		t.Errorf("gpt-2 ParseSpecial: %v", got)
	}
	if got := gpt2.Encode("<|endoftext|>", EncodeOptions{}); has(got, 50256) {
		t.Errorf("gpt-2 without ParseSpecial: %v", got)
	}

	llama := newTokenizer(t, loadGGUFVocab(t, "ggml-vocab-llama-spm.gguf"))
	// A special token is followed by a space prefix, as at the start.
	want := llama.Encode("Hello world", EncodeOptions{AddBOS: true})
	got = llama.Encode("<s>Hello world", EncodeOptions{ParseSpecial: true})
	if !equalInts(got, want) || got[0] != 1 {
		t.Errorf("llama <s>: got %v, want %v", got, want)
	}
	if s := llama.Decode(got); s != "Hello world" {
		t.Errorf("llama Decode after BOS = %q", s)
	}
}

// TestRoundTrip checks decode(encode(s)) == s on every test string.
func TestRoundTrip(t *testing.T) {
	for _, name := range vectorVocabs {
		tok := newTokenizer(t, loadGGUFVocab(t, name))
		for _, c := range loadVectors(t, name) {
			for _, bos := range []bool{false, true} {
				ids := tok.Encode(c.text, EncodeOptions{AddBOS: bos})
				if got := tok.Decode(ids); got != c.text {
					t.Errorf("%s bos=%v: Decode(Encode(%q)) = %q", name, bos, c.text, got)
				}
			}
		}
	}
}

// TestStreamDecoder checks that streaming gives Decode's text and never
// invalid UTF-8, on the test strings and on split byte tokens.
func TestStreamDecoder(t *testing.T) {
	for _, name := range vectorVocabs {
		tok := newTokenizer(t, loadGGUFVocab(t, name))
		for _, c := range loadVectors(t, name) {
			checkStream(t, tok, c.ids)
			checkStream(t, tok, append([]int{tok.BOS()}, c.ids...))
		}
	}
	llama := newTokenizer(t, loadGGUFVocab(t, "ggml-vocab-llama-spm.gguf"))
	euro := []int{3 + 0xE2, 3 + 0x82, 3 + 0xAC} // <0xE2><0x82><0xAC>
	d := llama.NewStreamDecoder()
	var parts []string
	for _, id := range euro {
		parts = append(parts, d.Push(id))
	}
	if parts[0] != "" || parts[1] != "" || parts[2] != "€" {
		t.Errorf("byte tokens of € streamed as %q", parts)
	}
	// An unfinished character is flushed as U+FFFD per byte.
	d = llama.NewStreamDecoder()
	if s := d.Push(euro[0]) + d.Push(euro[1]) + d.Flush(); s != "\uFFFD\uFFFD" {
		t.Errorf("flushed %q", s)
	}
	if s := llama.Decode(euro[:2]); s != "\uFFFD\uFFFD" {
		t.Errorf("Decode of half a character = %q", s)
	}
}

func checkStream(t *testing.T, tok *Tokenizer, ids []int) {
	t.Helper()
	d := tok.NewStreamDecoder()
	var sb strings.Builder
	for _, id := range ids {
		s := d.Push(id)
		if !utf8.ValidString(s) {
			t.Fatalf("Push(%d) returned invalid UTF-8 %q", id, s)
		}
		sb.WriteString(s)
	}
	sb.WriteString(d.Flush())
	if want := tok.Decode(ids); sb.String() != want {
		t.Fatalf("stream %q, Decode %q", sb.String(), want)
	}
}

func TestContinuationDecoder(t *testing.T) {
	llama := newTokenizer(t, loadGGUFVocab(t, "ggml-vocab-llama-spm.gguf"))
	ids := llama.Encode("Hello world", EncodeOptions{})
	d := llama.NewContinuationDecoder()
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(d.Push(id))
	}
	if got := sb.String(); got != " Hello world" {
		t.Errorf("continuation = %q, want the leading space kept", got)
	}
}

// TestTokenizerJSONRoundTrip writes each GGUF vocabulary as tokenizer.json
// (and tokenizer_config.json), reads it back and wants the same ids.
func TestTokenizerJSONRoundTrip(t *testing.T) {
	for _, name := range vectorVocabs {
		t.Run(name, func(t *testing.T) {
			v := loadGGUFVocab(t, name)
			js, err := ToTokenizerJSON(v)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ToTokenizerConfigJSON(v, "")
			if err != nil {
				t.Fatal(err)
			}
			alone, err := FromTokenizerJSON(bytes.NewReader(js))
			if err != nil {
				t.Fatal(err)
			}
			back, err := FromTokenizerJSONWithConfig(bytes.NewReader(js), bytes.NewReader(cfg))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []Vocab{alone, back} {
				checkSameVocab(t, v, w)
				checkVectors(t, newTokenizer(t, w), loadVectors(t, name))
			}
		})
	}
}

// checkSameVocab compares what a tokenizer.json keeps exactly.
func checkSameVocab(t *testing.T, a, b Vocab) {
	t.Helper()
	if a.Model != b.Model || len(a.Tokens) != len(b.Tokens) {
		t.Fatalf("model %q/%q, %d/%d tokens", a.Model, b.Model, len(a.Tokens), len(b.Tokens))
	}
	for i := range a.Tokens {
		if a.Tokens[i] != b.Tokens[i] || a.Types[i] != b.Types[i] {
			t.Fatalf("token %d: %q type %d, read back %q type %d", i, a.Tokens[i], a.Types[i], b.Tokens[i], b.Types[i])
		}
	}
	if a.BOS != b.BOS || a.EOS != b.EOS || a.UNK != b.UNK || a.PAD != b.PAD || a.AddBOS != b.AddBOS || a.AddEOS != b.AddEOS {
		t.Errorf("specials: %d %d %d %d %v %v, read back %d %d %d %d %v %v",
			a.BOS, a.EOS, a.UNK, a.PAD, a.AddBOS, a.AddEOS, b.BOS, b.EOS, b.UNK, b.PAD, b.AddBOS, b.AddEOS)
	}
	if a.Model == ModelGPT2 && (a.Pre != b.Pre || !equalStrings(a.Merges, b.Merges)) {
		t.Errorf("pre %q merges %d, read back %q merges %d", a.Pre, len(a.Merges), b.Pre, len(b.Merges))
	}
	if a.NoSpacePrefix != b.NoSpacePrefix {
		t.Errorf("NoSpacePrefix %v, read back %v", a.NoSpacePrefix, b.NoSpacePrefix)
	}
}

func TestAccessors(t *testing.T) {
	tok := newTokenizer(t, loadGGUFVocab(t, "ggml-vocab-llama-spm.gguf"))
	if tok.VocabSize() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || tok.PAD() != -1 {
		t.Errorf("size %d BOS %d EOS %d UNK %d PAD %d", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK(), tok.PAD())
	}
	if tok.TokenText(1) != "<s>" || tok.TokenText(-1) != "" || tok.TokenText(32000) != "" {
		t.Error("TokenText")
	}
	if tok.TokenType(3) != TypeByte || tok.TokenType(99999) != TypeUndefined {
		t.Error("TokenType")
	}
	if id, ok := tok.TokenID("▁Hello"); !ok || id != 15043 {
		t.Errorf("TokenID = %d, %v", id, ok)
	}
	if !tok.IsEndOfGeneration(2) || tok.IsEndOfGeneration(1) || tok.IsEndOfGeneration(-5) {
		t.Error("IsEndOfGeneration")
	}
	if o := tok.DefaultEncodeOptions(); !o.AddBOS || o.AddEOS || o.ParseSpecial {
		t.Errorf("DefaultEncodeOptions = %+v", o)
	}
	v := tok.Vocab()
	v.Tokens[5] = "changed"
	if tok.TokenText(5) == "changed" {
		t.Error("Vocab shares the tokenizer's slices")
	}
}
