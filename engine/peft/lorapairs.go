package peft

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// LoRA as the interchange formats hold it: one (A, B) pair per base
// module, A (rank, in) and B (out, rank) row-major — nn.Linear layout in
// Hugging Face PEFT (tuners/lora/layer.py: lora_A = nn.Linear(in, r),
// lora_B = nn.Linear(r, out), for GPT-2's Conv1D too, whose in/out come
// from its (in, out) weight), and the same bytes in a llama.cpp GGUF LoRA
// (ggml shapes [in, r] and [r, out], fastest dimension first).
//
// gpt2's fused c_attn (llama.cpp: attn_qkv) is trained here as separate
// q, k and v LoRAs of rank r. It is exported as one LoRA of rank 3r: A is
// the three A's stacked (q, k, v), B block-diagonal (q's B in q's output
// rows and q's columns, ...). That is exact: B A x = [B_q A_q x; B_k A_k
// x; B_v A_v x]. A module that is not targeted has zero blocks. Both
// formats give one rank per file (PEFT's r without rank_pattern, which
// llama.cpp's converter ignores; GGUF's single adapter.lora.alpha with
// scale alpha/rank per tensor), so the other gpt2 modules are padded to
// rank 3r with zero rows of A and zero columns of B (exact too), and
// alpha is chosen to keep the scale.

// exportPair is one base module's LoRA, ready to write.
type exportPair struct {
	layer  int
	module string // a webpeft module, or "qkv" for gpt2's c_attn
	in     int
	out    int
	a, b   []float32 // (rank, in), (out, rank)
}

// exportRank is the rank every pair of the export has: r, or 3r for a
// gpt2 model whose q, k or v is targeted.
func exportRank(c Config, arch string) int {
	if arch == "gpt2" && slices.ContainsFunc(c.Targets, isQKV) {
		return 3 * c.Rank
	}
	return c.Rank
}

func isQKV(m string) bool { return m == "q" || m == "k" || m == "v" }

// exportAlpha is the alpha that gives the set's scale at rank R (PEFT's
// alpha/R, or alpha/sqrt(R) with rsLoRA; rs false: llama.cpp's alpha/R).
func exportAlpha(c Config, R int, rs bool) float64 {
	switch {
	case R == c.Rank && rs == c.RSLoRA:
		return c.Alpha
	case rs && c.RSLoRA:
		return c.Alpha * math.Sqrt(float64(R)/float64(c.Rank))
	case !rs && !c.RSLoRA:
		return c.Alpha * float64(R) / float64(c.Rank)
	}
	return c.Scale() * float64(R) // rsLoRA as llama.cpp's plain alpha/R
}

// loraExportPairs lists the set's LoRA pairs (params in the order the
// file wants) in layer, then module order, all of rank exportRank.
func loraExportPairs(s *Set, params []float32, arch string) ([]exportPair, int) {
	c, _ := s.Config(LoRA)
	R := exportRank(c, arch)
	var pairs []exportPair
	for l := 0; l < s.Dims.Layers; l++ {
		if R != c.Rank {
			pairs = append(pairs, stackQKV(s, params, l, c))
		}
		for _, m := range Modules {
			if !slices.Contains(c.Targets, m) || (R != c.Rank && isQKV(m)) {
				continue
			}
			in, out := s.Dims.InOut(m)
			a, b := loraTensors(s, params, l, m)
			pairs = append(pairs, exportPair{layer: l, module: m, in: in, out: out,
				a: padRows(a, in, R), b: padCols(b, out, c.Rank, R)})
		}
	}
	return pairs, R
}

// loraTensors returns layer l's A and B of module m (views of params).
func loraTensors(s *Set, params []float32, l int, m string) (a, b []float32) {
	ta, _ := s.Tensor(fmt.Sprintf("blk.%d.lora_%s.a", l, m))
	tb, _ := s.Tensor(fmt.Sprintf("blk.%d.lora_%s.b", l, m))
	return params[ta.Off : ta.Off+ta.Len], params[tb.Off : tb.Off+tb.Len]
}

// stackQKV is gpt2's c_attn LoRA of layer l: rank 3r, A stacked, B
// block-diagonal, zero blocks for q, k or v when not targeted.
func stackQKV(s *Set, params []float32, l int, c Config) exportPair {
	d, r := s.Dims, c.Rank
	p := exportPair{layer: l, module: "qkv", in: d.Hidden, out: d.Q + 2*d.KV}
	p.a = make([]float32, 3*r*p.in)
	p.b = make([]float32, p.out*3*r)
	row := 0
	for i, m := range []string{"q", "k", "v"} {
		_, n := d.InOut(m)
		if slices.Contains(c.Targets, m) {
			a, b := loraTensors(s, params, l, m)
			copy(p.a[i*r*p.in:], a)
			for o := 0; o < n; o++ {
				copy(p.b[(row+o)*3*r+i*r:][:r], b[o*r:(o+1)*r])
			}
		}
		row += n
	}
	return p
}

// padRows appends zero rows to a (rows of width cols) up to R rows.
func padRows(a []float32, cols, R int) []float32 {
	out := make([]float32, R*cols)
	copy(out, a)
	return out
}

// padCols widens each of the rows of b from r to R columns with zeros.
func padCols(b []float32, rows, r, R int) []float32 {
	if r == R {
		return append([]float32(nil), b...)
	}
	out := make([]float32, rows*R)
	for o := 0; o < rows; o++ {
		copy(out[o*R:], b[o*r:(o+1)*r])
	}
	return out
}

// loraPair is one module's LoRA read from a file, in webpeft's module
// naming and Hugging Face's Q/K row order.
type loraPair struct {
	layer  int
	module string
	rank   int
	a, b   []float32 // (rank, in), (out, rank)
	scale  float64   // what the file's reader applies: alpha/rank, ...
}

// splitQKV turns gpt2's c_attn LoRA into q, k and v LoRAs. A stacked,
// block-diagonal one (as webpeft writes) splits back exactly into three
// of rank R/3, dropping a module whose blocks are all zero (not
// targeted). Any other gives each of q, k and v the whole A and its rows
// of B: exact as well, at rank R.
func splitQKV(d Dims, p loraPair) []loraPair {
	C, R := d.Hidden, p.rank
	starts := []int{0, d.Q, d.Q + d.KV, d.Q + 2*d.KV}
	names := []string{"q", "k", "v"}
	var out []loraPair
	if R%3 == 0 && blockDiagonal(p.b, starts, R) {
		r := R / 3
		for i, m := range names {
			a := p.a[i*r*C : (i+1)*r*C]
			b := make([]float32, 0, (starts[i+1]-starts[i])*r)
			for o := starts[i]; o < starts[i+1]; o++ {
				b = append(b, p.b[o*R+i*r:o*R+(i+1)*r]...)
			}
			out = append(out, loraPair{layer: p.layer, module: m, rank: r, a: a, b: b, scale: p.scale})
		}
		kept := slices.DeleteFunc(slices.Clone(out), func(q loraPair) bool { return allZero(q.a) && allZero(q.b) })
		if len(kept) > 0 {
			return kept
		}
		return out
	}
	for i, m := range names {
		b := p.b[starts[i]*R : starts[i+1]*R]
		out = append(out, loraPair{layer: p.layer, module: m, rank: R, a: p.a, b: b, scale: p.scale})
	}
	return out
}

// blockDiagonal reports whether b (out, R) is zero outside the blocks
// (rows starts[i]..starts[i+1], columns i*R/3..(i+1)*R/3).
func blockDiagonal(b []float32, starts []int, R int) bool {
	r := R / 3
	for i := 0; i < 3; i++ {
		for o := starts[i]; o < starts[i+1]; o++ {
			for j := 0; j < R; j++ {
				if j/r != i && b[o*R+j] != 0 {
					return false
				}
			}
		}
	}
	return true
}

func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

// trimRank drops trailing rank components whose A row and B column are
// both zero (the padding of webpeft's gpt2 exports; they add nothing),
// keeping at least one.
func trimRank(p loraPair) loraPair {
	in, out := len(p.a)/p.rank, len(p.b)/p.rank
	r := p.rank
	for r > 1 && allZero(p.a[(r-1)*in:r*in]) && colZero(p.b, out, p.rank, r-1) {
		r--
	}
	if r == p.rank {
		return p
	}
	b := make([]float32, out*r)
	for o := 0; o < out; o++ {
		copy(b[o*r:], p.b[o*p.rank:o*p.rank+r])
	}
	return loraPair{layer: p.layer, module: p.module, rank: r, a: p.a[:r*in], b: b, scale: p.scale}
}

func colZero(b []float32, rows, R, j int) bool {
	for o := 0; o < rows; o++ {
		if b[o*R+j] != 0 {
			return false
		}
	}
	return true
}

// assembleLoRA builds a LoRA set for a model of dims d from the pairs
// read from a file (Hugging Face row order). When every pair has the same
// rank and scale — what webpeft writes, and PEFT without rank_pattern or
// alpha_pattern — the parameters are the file's values bit for bit and
// the config gets the rank and an alpha giving the scale (with rsLoRA
// when rs). Otherwise every pair is padded to the largest rank and its
// scale folded into B (scale 1): exact up to float32 rounding. A module
// missing from some layers gets zero A and B there (no change, as in a
// file that skips those layers).
func assembleLoRA(d Dims, pairs []loraPair, dropout float64, rs bool) (*Set, []float32, error) {
	if len(pairs) == 0 {
		return nil, nil, fmt.Errorf("peft: the adapter has no LoRA tensors")
	}
	rank, uniform := 0, true
	for i := range pairs {
		pairs[i] = trimRank(pairs[i])
		rank = max(rank, pairs[i].rank)
		p0, p := pairs[0], pairs[i]
		if p.rank != p0.rank || math.Abs(p.scale-p0.scale) > 1e-9*math.Abs(p0.scale) {
			uniform = false
		}
	}
	c := Config{Method: LoRA, Rank: rank, Dropout: dropout, Alpha: float64(rank)}
	if uniform {
		c.RSLoRA, c.Alpha = rs, tidy(pairs[0].scale*float64(rank))
		if rs {
			c.Alpha = tidy(pairs[0].scale * math.Sqrt(float64(rank)))
		}
	}
	if !(c.Alpha > 0) {
		return nil, nil, fmt.Errorf("peft: lora alpha %v: webpeft takes a positive scale", c.Alpha)
	}
	for _, m := range Modules {
		if slices.ContainsFunc(pairs, func(p loraPair) bool { return p.module == m }) {
			c.Targets = append(c.Targets, m)
		}
	}
	set, err := NewSet(d, c)
	if err != nil {
		return nil, nil, err
	}
	params := make([]float32, set.Size)
	for _, p := range pairs {
		placePair(set, params, p, uniform)
	}
	return set, params, nil
}

// placePair copies p into the set's A and B of its layer and module,
// padding its rank to the set's and, when not uniform, folding its scale
// into B (the set's scale is then 1).
func placePair(set *Set, params []float32, p loraPair, uniform bool) {
	c, _ := set.Config(LoRA)
	a, b := loraTensors(set, params, p.layer, p.module)
	copy(a, p.a)
	out := len(p.b) / p.rank
	for o := 0; o < out; o++ {
		row := b[o*c.Rank : o*c.Rank+p.rank]
		copy(row, p.b[o*p.rank:(o+1)*p.rank])
		if !uniform {
			for j := range row {
				row[j] = float32(float64(row[j]) * p.scale)
			}
		}
	}
}

// tidy rounds x to 12 significant digits, so that an alpha recomputed
// from a file's scale comes back as the value that was written (16, not
// 15.999999999999998).
func tidy(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	return v
}
