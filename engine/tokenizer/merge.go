package tokenizer

// Both BPE flavours repeatedly merge the best adjacent pair of symbols in
// a word until no pair merges. mergeWord does that in O(n log n) with a
// linked list of symbols and a heap of candidate pairs; a candidate that
// went stale (one of its symbols changed since it was queued) is
// recognised by its recorded length and skipped.

// symbol is a span [start, end) of the word; a merged-away symbol has
// start == end.
type symbol struct {
	start, end int
	prev, next int // neighbours in the list, -1 at the ends
	id         int32
}

// candidate is a pair of adjacent symbols that could merge into id.
type candidate struct {
	left, right int
	cost        float64 // lower merges first
	size        int     // bytes of both symbols when queued
	id          int32
}

// pairFunc says whether symbols l and r (adjacent in word) merge, into
// which token and at what cost.
type pairFunc func(word string, l, r *symbol) (cost float64, id int32, ok bool)

// scratch is memory one Encode call reuses from word to word.
type scratch struct {
	syms []symbol
	heap candidates
}

// mergeWord merges syms (consecutive spans of word, ids set) in place
// and returns the surviving symbols in order, in syms' memory.
func mergeWord(word string, syms []symbol, pair pairFunc, h *candidates) []symbol {
	for i := range syms {
		syms[i].prev, syms[i].next = i-1, i+1
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	*h = (*h)[:0]
	push := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		if cost, id, ok := pair(word, &syms[l], &syms[r]); ok {
			h.push(candidate{left: l, right: r, cost: cost, size: syms[r].end - syms[l].start, id: id})
		}
	}
	for i := 1; i < len(syms); i++ {
		push(i-1, i)
	}
	for len(*h) > 0 {
		c := h.pop()
		l, r := &syms[c.left], &syms[c.right]
		if l.end == l.start || r.end == r.start || l.next != c.right || r.end-l.start != c.size {
			continue // stale
		}
		l.end, l.id, l.next = r.end, c.id, r.next
		r.start = r.end
		if l.next >= 0 {
			syms[l.next].prev = c.left
		}
		push(l.prev, c.left)
		push(c.left, l.next)
	}
	// The first symbol never merges away (merges keep the left one), so
	// the list starts at 0; survivors move down over dead symbols.
	n := 0
	for i := 0; i >= 0 && len(syms) > 0; i = syms[i].next {
		syms[n] = syms[i]
		n++
	}
	return syms[:n]
}

// candidates is a binary min-heap by (cost, left): ties go to the
// leftmost pair, as in llama.cpp. (container/heap would box every pushed
// candidate in an interface, one allocation each.)
type candidates []candidate

func (h candidates) less(i, j int) bool {
	if h[i].cost != h[j].cost {
		return h[i].cost < h[j].cost
	}
	return h[i].left < h[j].left
}

func (h *candidates) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *candidates) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		child := 2*i + 1
		if child >= len(s) {
			break
		}
		if child+1 < len(s) && s.less(child+1, child) {
			child++
		}
		if !s.less(child, i) {
			break
		}
		s[i], s[child] = s[child], s[i]
		i = child
	}
	*h = s
	return top
}
