package model

import (
	"fmt"
	"math"
)

// EvalResult is the mean next-token loss over a token stream.
type EvalResult struct {
	Loss       float64 `json:"loss"`       // mean cross-entropy per predicted token (nats)
	Perplexity float64 `json:"perplexity"` // exp(Loss)
	Tokens     int     `json:"tokens"`     // tokens predicted
}

// Eval runs ids through g in consecutive windows of up to window+1 tokens
// (each window predicts its tokens 1..n from the ones before; windows
// overlap by one token so that every token after the first is predicted
// once) and returns the mean loss. Only the per-token losses are read
// back. progress, when set, is called after each window.
func (g *GPU) Eval(ids []int, window int, progress func(done, total int)) (EvalResult, error) {
	return g.AdapterEval(ids, window, nil, progress)
}

// AdapterEval is Eval with adapter ad applied (nil: none); its prefix and
// prompt-tuning tokens come before every window.
func (g *GPU) AdapterEval(ids []int, window int, ad *Adapter, progress func(done, total int)) (EvalResult, error) {
	P, V := ad.prefix(), ad.virtual()
	if limit := g.MaxPositions() - P - V; window <= 0 || window > limit {
		window = limit
	}
	if window < 1 {
		return EvalResult{}, fmt.Errorf("model: eval: the adapter's %d tokens fill the %d positions", P+V, g.MaxPositions())
	}
	if len(ids) < 2 {
		return EvalResult{}, fmt.Errorf("model: eval: %d tokens; need at least 2", len(ids))
	}
	cache, err := g.NewCache(1, P+V+window)
	if err != nil {
		return EvalResult{}, err
	}
	defer cache.Free()
	progs := map[int]*Program{}
	defer func() {
		for _, p := range progs {
			p.Free()
		}
	}()
	var sum float64
	count := 0
	for start := 0; start+1 < len(ids); start += window {
		n := min(window, len(ids)-1-start)
		p := progs[n]
		if p == nil {
			if p, err = g.NewAdapterProgram(cache, V+n, Loss, ad, true); err != nil {
				return EvalResult{}, err
			}
			progs[n] = p
		}
		targets := append(minusOnes(V), ids[start+1:start+n+1]...)
		if err := p.Run(ids[start:start+n], P, targets); err != nil {
			return EvalResult{}, err
		}
		losses, err := p.Losses()
		if err != nil {
			return EvalResult{}, err
		}
		for _, l := range losses {
			sum += float64(l)
		}
		count += n
		if progress != nil {
			progress(start+n+1, len(ids))
		}
	}
	mean := sum / float64(count)
	return EvalResult{Loss: mean, Perplexity: math.Exp(mean), Tokens: count}, nil
}

func minusOnes(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = -1
	}
	return v
}
