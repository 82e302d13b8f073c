package tokenizer

import (
	"fmt"
	"slices"
	"sort"
	"unicode/utf8"
)

// Byte-level BPE training, as GPT-2's tokenizer was made: text is cut into
// words by the pre-tokenizer, every word starts as its bytes, and the most
// frequent adjacent pair of tokens, counted over all words, becomes a new
// token, again and again until the vocabulary is full. The result is a
// Vocab of model "gpt2" that New, the GGUF writer and ToTokenizerJSON take
// as they take any downloaded byte-level vocabulary.
//
// The work is done on unique words with their counts (a 10 MB English text
// has about 50k of them), with pair counts updated incrementally: a merge
// touches only the words that hold its pair, found through an index from
// pair to words, and a lazy max-heap hands out the next best pair.
//
// Determinism: words are kept in byte order, ids are given in a fixed
// order and ties between equally frequent pairs go to the smaller (left
// id, right id), so the same text and options always give the same
// vocabulary, whatever Go's map order.

// TrainOptions configure a BPETrainer.
type TrainOptions struct {
	// VocabSize is the number of tokens in all: the special tokens, the
	// 256 byte tokens and the merged ones.
	VocabSize int
	// Specials are control tokens, given ids 0, 1, ... in this order; the
	// first is BOS and EOS (as GPT-2's <|endoftext|> is both). nil means
	// {"<|endoftext|>"}.
	Specials []string
	// Pre is the pre-tokenizer (a tokenizer.ggml.pre value of a byte-level
	// family); "" means "gpt-2".
	Pre string
	// MinFrequency is how often a pair must occur to be merged; 0 means 2.
	// Training stops early, with a smaller vocabulary, when no pair does.
	MinFrequency int
	// AddBOS makes the vocabulary ask for BOS before every text.
	AddBOS bool
}

// DefaultSpecials are the special tokens of a trained vocabulary when
// TrainOptions.Specials is nil.
var DefaultSpecials = []string{"<|endoftext|>"}

// BPETrainer counts the words of training text (Add) and learns merges
// from them (Train). It is not safe for concurrent use.
type BPETrainer struct {
	opt   TrainOptions
	pre   preTokenizer
	words map[string]int64 // pre-tokenized word (its bytes) -> occurrences
	total int64            // words added, with repeats
}

// NewBPETrainer checks opt and returns an empty trainer.
func NewBPETrainer(opt TrainOptions) (*BPETrainer, error) {
	if opt.Specials == nil {
		opt.Specials = DefaultSpecials
	}
	if opt.Pre == "" {
		opt.Pre = "gpt-2"
	}
	if opt.MinFrequency <= 0 {
		opt.MinFrequency = 2
	}
	pre, err := findPre(opt.Pre)
	if err != nil {
		return nil, err
	}
	if len(opt.Specials) == 0 {
		return nil, fmt.Errorf("tokenizer: training needs at least one special token (BOS/EOS)")
	}
	seen := map[string]bool{}
	for _, s := range opt.Specials {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("tokenizer: special token %q is empty or repeated", s)
		}
		if utf8.RuneCountInString(s) == 1 {
			return nil, fmt.Errorf("tokenizer: special token %q is a single character, which a byte token may spell", s)
		}
		seen[s] = true
	}
	if base := len(opt.Specials) + 256; opt.VocabSize < base {
		return nil, fmt.Errorf("tokenizer: vocabulary size %d is smaller than the %d special and 256 byte tokens", opt.VocabSize, len(opt.Specials))
	}
	opt.Specials = slices.Clone(opt.Specials)
	return &BPETrainer{opt: opt, pre: pre, words: map[string]int64{}}, nil
}

// Add counts the words of text. Texts are pre-tokenized separately, so a
// word never spans two calls.
func (t *BPETrainer) Add(text string) {
	for _, w := range t.pre.split(text) {
		t.words[w]++
		t.total++
	}
}

// Words reports the words added (with repeats) and the distinct ones.
func (t *BPETrainer) Words() (total int64, unique int) { return t.total, len(t.words) }

// Train learns merges until the vocabulary has VocabSize tokens or no pair
// occurs MinFrequency times, and returns the vocabulary: specials first,
// then the 256 bytes in byte order (id len(Specials)+b is byte b, spelled
// in GPT-2's byte runes), then the merged tokens in the order learned.
func (t *BPETrainer) Train() (Vocab, error) {
	s := newBPEState(t)
	for len(s.tokens) < t.opt.VocabSize {
		p, ok := s.best(int64(t.opt.MinFrequency))
		if !ok {
			break
		}
		s.merge(p)
	}
	if len(s.merges) == 0 {
		return Vocab{}, fmt.Errorf("tokenizer: no pair of bytes occurs %d times in the training text: nothing to merge", t.opt.MinFrequency)
	}
	v := s.vocab()
	if _, err := New(v); err != nil {
		return Vocab{}, fmt.Errorf("tokenizer: trained vocabulary is invalid: %w", err)
	}
	return v, nil
}

// bpeWord is a distinct word as its current tokens, and how often it
// occurs.
type bpeWord struct {
	syms  []int32
	count int64
}

// bpeState is the training in progress.
type bpeState struct {
	opt    TrainOptions
	tokens []string         // token text by id, in byte runes
	ids    map[string]int32 // token text -> id
	merges []string

	words  []bpeWord
	counts map[uint64]int64   // pair -> occurrences over all words
	where  map[uint64][]int32 // pair -> words that held it when it appeared (some may no longer)
	heap   pairHeap
	stamp  []int32          // per word: the last merge that rewrote it
	delta  map[uint64]int64 // scratch: count changes of one merge
	banned map[uint64]bool  // pairs that would spell a special token
}

func newBPEState(t *BPETrainer) *bpeState {
	s := &bpeState{
		opt:    t.opt,
		ids:    map[string]int32{},
		counts: map[uint64]int64{},
		where:  map[uint64][]int32{},
		delta:  map[uint64]int64{},
		banned: map[uint64]bool{},
	}
	for _, sp := range t.opt.Specials {
		s.addToken(sp)
	}
	bm := newByteMap()
	byteID := len(s.tokens)
	for b := 0; b < 256; b++ {
		s.addToken(string(bm.toRune[b]))
	}
	// Distinct words in byte order, so that word indices (and with them
	// everything below) do not depend on map order.
	keys := make([]string, 0, len(t.words))
	for w := range t.words {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	s.words = make([]bpeWord, len(keys))
	s.stamp = make([]int32, len(keys))
	for i, w := range keys {
		syms := make([]int32, len(w))
		for j := 0; j < len(w); j++ {
			syms[j] = int32(byteID + int(w[j]))
		}
		s.words[i] = bpeWord{syms: syms, count: t.words[w]}
		for j := 1; j < len(syms); j++ {
			p := pairKey(syms[j-1], syms[j])
			s.counts[p] += t.words[w]
			if ws := s.where[p]; len(ws) == 0 || ws[len(ws)-1] != int32(i) {
				s.where[p] = append(ws, int32(i))
			}
		}
	}
	for p, c := range s.counts {
		s.heap.push(pairCount{pair: p, count: c})
	}
	return s
}

// addToken appends a token (or finds it, when an earlier merge already
// spelled the same text another way) and returns its id.
func (s *bpeState) addToken(text string) int32 {
	if id, ok := s.ids[text]; ok {
		return id
	}
	id := int32(len(s.tokens))
	s.tokens = append(s.tokens, text)
	s.ids[text] = id
	return id
}

// best pops the most frequent pair with at least minCount occurrences. Heap
// entries are not updated when a count falls; a popped entry whose count
// is out of date goes back with the current one.
func (s *bpeState) best(minCount int64) (uint64, bool) {
	for len(s.heap) > 0 {
		e := s.heap.pop()
		if s.banned[e.pair] {
			continue
		}
		cur := s.counts[e.pair]
		if cur != e.count {
			if cur >= minCount {
				s.heap.push(pairCount{pair: e.pair, count: cur})
			}
			continue
		}
		if cur >= minCount && s.spellsSpecial(e.pair) {
			s.banned[e.pair] = true
			continue
		}
		return e.pair, cur >= minCount
	}
	return 0, false
}

// spellsSpecial reports whether merging p would make the text of a special
// token: plain text must never turn into a control token, so such a pair
// is never merged.
func (s *bpeState) spellsSpecial(p uint64) bool {
	id, ok := s.ids[s.tokens[p>>32]+s.tokens[uint32(p)]]
	return ok && int(id) < len(s.opt.Specials)
}

// merge makes pair p a token and rewrites every word that holds it.
func (s *bpeState) merge(p uint64) {
	l, r := int32(p>>32), int32(uint32(p))
	id := s.addToken(s.tokens[l] + s.tokens[r])
	s.merges = append(s.merges, s.tokens[l]+" "+s.tokens[r])
	step := int32(len(s.merges))
	clear(s.delta)
	for _, wi := range s.where[p] {
		if s.stamp[wi] == step {
			continue // listed twice
		}
		s.stamp[wi] = step
		s.rewrite(wi, l, r, id)
	}
	delete(s.where, p)
	// Only pairs with the new token can have grown; they go on the heap.
	// Shrunk ones are corrected lazily in best.
	for q, d := range s.delta {
		c := s.counts[q] + d
		if c <= 0 {
			delete(s.counts, q)
			continue
		}
		s.counts[q] = c
		if d > 0 {
			s.heap.push(pairCount{pair: q, count: c})
		}
	}
}

// rewrite merges every (l, r) in word wi into id, left to right, and
// records the change of the word's pairs in s.delta.
func (s *bpeState) rewrite(wi int32, l, r, id int32) {
	w := &s.words[wi]
	if !hasPair(w.syms, l, r) {
		return // the pair left this word through an earlier merge
	}
	s.countPairs(w.syms, -w.count)
	out := w.syms[:0]
	for i := 0; i < len(w.syms); i++ {
		if i+1 < len(w.syms) && w.syms[i] == l && w.syms[i+1] == r {
			out = append(out, id)
			i++
			continue
		}
		out = append(out, w.syms[i])
	}
	w.syms = out
	s.countPairs(w.syms, w.count)
	// Index the word under the pairs the new token forms; every other
	// pair of it was already there (and indexed) before this merge.
	for j := 1; j < len(out); j++ {
		if out[j-1] != id && out[j] != id {
			continue
		}
		q := pairKey(out[j-1], out[j])
		if ws := s.where[q]; len(ws) == 0 || ws[len(ws)-1] != wi {
			s.where[q] = append(ws, wi)
		}
	}
}

func (s *bpeState) countPairs(syms []int32, n int64) {
	for j := 1; j < len(syms); j++ {
		s.delta[pairKey(syms[j-1], syms[j])] += n
	}
}

func hasPair(syms []int32, l, r int32) bool {
	for j := 1; j < len(syms); j++ {
		if syms[j-1] == l && syms[j] == r {
			return true
		}
	}
	return false
}

// vocab spells the result as a Vocab.
func (s *bpeState) vocab() Vocab {
	v := Vocab{
		Model:  ModelGPT2,
		Pre:    s.opt.Pre,
		Tokens: slices.Clone(s.tokens),
		Types:  make([]int32, len(s.tokens)),
		Merges: slices.Clone(s.merges),
		BOS:    0, EOS: 0, UNK: -1, PAD: -1,
		AddBOS: s.opt.AddBOS,
	}
	if p, err := findPre(s.opt.Pre); err == nil {
		v.Pre = p.name // the canonical name, as GGUF files carry it
	}
	for i := range v.Types {
		v.Types[i] = TypeNormal
		if i < len(s.opt.Specials) {
			v.Types[i] = TypeControl
		}
	}
	return v
}

// pairCount is a heap entry: a pair and its count when pushed.
type pairCount struct {
	pair  uint64
	count int64
}

// pairHeap is a binary max-heap by count; equal counts go to the smaller
// (left, right), which pairKey's order is.
type pairHeap []pairCount

func (h pairHeap) less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return h[i].pair < h[j].pair
}

func (h *pairHeap) push(e pairCount) {
	*h = append(*h, e)
	a := *h
	for i := len(a) - 1; i > 0; {
		parent := (i - 1) / 2
		if !a.less(i, parent) {
			break
		}
		a[i], a[parent] = a[parent], a[i]
		i = parent
	}
}

func (h *pairHeap) pop() pairCount {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		child := 2*i + 1
		if child >= len(a) {
			break
		}
		if child+1 < len(a) && a.less(child+1, child) {
			child++
		}
		if !a.less(child, i) {
			break
		}
		a[i], a[child] = a[child], a[i]
		i = child
	}
	*h = a
	return top
}
