package ops

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Attention launches attention_fwd.wgsl: causal grouped-query attention,
// one workgroup per query row (b, h, t). The kernel and a placeholder for
// an unwanted att output are made once, in NewAttention.
type Attention struct {
	d    *gpu.Device
	k    *gpu.Kernel
	none *gpu.Buffer // bound as att when the caller wants none
}

// attnMaxT and attnMaxHS are MAXT and MAXHS of attention_fwd.wgsl: the
// row's probabilities and query live in workgroup memory. No loop of the
// kernel runs more than T trips per invocation (HS <= WG).
const (
	attnMaxT  = 2048
	attnMaxHS = 256
)

// attnParams is the Params struct of attention_fwd.wgsl.
type attnParams struct {
	T, NH, NKV, HS, Rows, WriteAtt uint32
	Scale                          float32
	S, Pos0                        uint32
}

// NewAttention builds the attention kernel on d.
func NewAttention(d *gpu.Device) (*Attention, error) {
	k, err := d.Kernel("attention_fwd.wgsl", rowReduce,
		gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	none, err := d.NewBuffer("attention.no-att", 4)
	if err != nil {
		return nil, err
	}
	return &Attention{d: d, k: k, none: none}, nil
}

// Free releases the placeholder buffer.
func (a *Attention) Free() { a.none.Free() }

// Forward returns the call for causal scaled dot-product attention with
// grouped query heads (ref.AttentionForward): query head h reads key/value
// head h/(NH/NKV), scale 1/sqrt(HS). q and out are (B,T,NH,HS); k and v are
// (B,T,NKV,HS). att, (B,NH,T,T) probabilities for the backward pass with
// entries s > t set to 0, may be nil when none is wanted. Scores, softmax
// and weighted sums are f32. T <= 2048, HS <= 256.
func (a *Attention) Forward(out, att, q, k, v *gpu.Buffer, B, T, NH, NKV, HS int) (*gpu.Call, error) {
	c, err := a.Cached(out, att, q, k, v, AttnShape{B: B, T: T, S: T, NH: NH, NKV: NKV, HS: HS})
	if err != nil {
		return nil, err
	}
	return c.Call, nil
}

// AttnShape is the shape of one attention call: B sequences of T queries
// with NH heads of size HS, against S cached keys and values per sequence
// in NKV heads, the queries at positions Pos0..Pos0+T-1 (Pos0+T <= S).
type AttnShape struct {
	B, T, S, NH, NKV, HS, Pos0 int
}

func (s AttnShape) String() string {
	return fmt.Sprintf("B=%d T=%d S=%d NH=%d NKV=%d HS=%d P=%d", s.B, s.T, s.S, s.NH, s.NKV, s.HS, s.Pos0)
}

// AttnCall is an attention dispatch over a KV cache whose query position
// can move between submits (one decode step after another) without a new
// bind group.
type AttnCall struct {
	*gpu.Call
	shape AttnShape
	write uint32
}

// Cached returns the call for attention of queries q (B,T,NH,HS) against a
// KV cache k, v (B,S,NKV,HS) holding keys 0..Pos0+T-1: query t sees keys
// s <= Pos0+t. att, when not nil, is (B,NH,T,S).
func (a *Attention) Cached(out, att, q, k, v *gpu.Buffer, s AttnShape) (*AttnCall, error) {
	name := a.k.Name
	if err := checkAttnShape(name, s); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.T*s.NH*s.HS, out, q); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.S*s.NKV*s.HS, k, v); err != nil {
		return nil, err
	}
	write := uint32(1)
	if att == nil {
		att, write = a.none, 0
	} else if err := needFloats(name, s.B*s.NH*s.T*s.S, att); err != nil {
		return nil, err
	}
	grid, err := groupGrid(a.d, s.B*s.NH*s.T)
	if err != nil {
		return nil, err
	}
	c, err := a.k.Call(grid, attnParamsOf(s, write), q, k, v, out, att)
	if err != nil {
		return nil, err
	}
	return &AttnCall{Call: c, shape: s, write: write}, nil
}

// SetPos moves the queries to positions pos0..pos0+T-1 for the next submit.
func (c *AttnCall) SetPos(pos0 int) error {
	s := c.shape
	s.Pos0 = pos0
	if pos0 < 0 || pos0+s.T > s.S {
		return fmt.Errorf("ops: attention: queries at %d..%d do not fit %d cached positions", pos0, pos0+s.T-1, s.S)
	}
	c.shape = s
	return c.SetParams(attnParamsOf(s, c.write))
}

func checkAttnShape(name string, s AttnShape) error {
	if s.B <= 0 || s.T <= 0 || s.NH <= 0 || s.NKV <= 0 || s.HS <= 0 || s.NH%s.NKV != 0 {
		return fmt.Errorf("ops: %s: bad shape %v (NH must be a multiple of NKV)", name, s)
	}
	if s.Pos0 < 0 || s.Pos0+s.T > s.S {
		return fmt.Errorf("ops: %s: %v: queries at %d..%d do not fit %d cached positions", name, s, s.Pos0, s.Pos0+s.T-1, s.S)
	}
	if s.S > attnMaxT || s.HS > attnMaxHS {
		return fmt.Errorf("ops: %s: S=%d HS=%d is over the kernel's S <= %d, HS <= %d", name, s.S, s.HS, attnMaxT, attnMaxHS)
	}
	if s.B*s.S > maxElems/s.NH || s.B*s.S*s.NH > maxElems/s.HS || s.B*s.NH*s.T > maxElems/s.S {
		return fmt.Errorf("ops: %s: %v is too large", name, s)
	}
	return nil
}

func attnParamsOf(s AttnShape, write uint32) attnParams {
	return attnParams{
		T: uint32(s.T), NH: uint32(s.NH), NKV: uint32(s.NKV), HS: uint32(s.HS),
		Rows: uint32(s.B * s.NH * s.T), WriteAtt: write,
		Scale: float32(1 / math.Sqrt(float64(s.HS))), S: uint32(s.S), Pos0: uint32(s.Pos0),
	}
}

// ropeAttentionCases lists the RoPE and attention parity checks.
func ropeAttentionCases() []Case {
	return append(ropeCases(), attentionCases()...)
}

// attnShape is one input of an attention case; withAtt asks for the
// probabilities too.
type attnShape struct {
	B, T, NH, NKV, HS int
	withAtt           bool
}

func (s attnShape) String() string {
	return fmt.Sprintf("B=%d T=%d NH=%d NKV=%d HS=%d", s.B, s.T, s.NH, s.NKV, s.HS)
}

// attnTol: f32 dot products of up to 64 terms, exp and a sum of up to T
// terms against float64 ref; Abs covers outputs near zero.
var attnTol = Tol{Abs: 1e-5, Rel: 1e-4}

// attentionCases check attention against the float64 ref on odd shapes,
// grouped (NH=4, NKV=2) and plain (NH=NKV=3) heads, each case one submit.
// T=300 runs every per-row loop past one workgroup's stride.
func attentionCases() []Case {
	gqa := []attnShape{
		{1, 1, 4, 2, 64, true}, {2, 7, 4, 2, 64, true}, {2, 37, 4, 2, 8, false}, {1, 37, 4, 2, 64, true},
	}
	mha := []attnShape{
		{1, 1, 3, 3, 8, true}, {2, 7, 3, 3, 8, false}, {2, 37, 3, 3, 64, true},
	}
	long := []attnShape{{1, 300, 2, 1, 64, true}}
	return []Case{
		{"attention/gqa-NH=4-NKV=2", func(d *gpu.Device) error { return checkAttention(d, gqa) }},
		{"attention/mha-NH=NKV=3", func(d *gpu.Device) error { return checkAttention(d, mha) }},
		{"attention/T=300", func(d *gpu.Device) error { return checkAttention(d, long) }},
		{"attention/kv-cache", checkAttentionCached},
	}
}

// checkAttentionCached runs the last T of n positions against a KV cache
// of S > n slots (slots past n hold garbage that must stay unseen) and
// compares with the last T rows of ref attention over all n positions.
// The decode step (T = 1) is built at position 0 and moved by SetPos, as a
// generation loop does.
func checkAttentionCached(d *gpu.Device) error {
	a, err := NewAttention(d)
	if err != nil {
		return err
	}
	defer a.Free()
	const B, NH, NKV, HS, n, S = 2, 4, 2, 16, 23, 29
	g := newSeeded(70)
	k, v := g.next(B*S*NKV*HS, 1), g.next(B*S*NKV*HS, 2)
	bk, err := inputBuffer(d, "k cache", k)
	if err != nil {
		return err
	}
	defer bk.Free()
	bv, err := inputBuffer(d, "v cache", v)
	if err != nil {
		return err
	}
	defer bv.Free()
	rec := newRecording(d, "attention kv-cache")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for _, T := range []int{5, 1} {
		q := g.next(B*n*NH*HS, 1)
		want = append(want, lastRows(cachedAttnRef(q, k, v, B, n, S, NH, NKV, HS), B, n, T, NH*HS))
		bq, err := inputBuffer(d, "q", lastRows(q, B, n, T, NH*HS))
		if err != nil {
			return err
		}
		defer bq.Free()
		out, err := NewGuarded(d, fmt.Sprintf("attention out T=%d", T), B*T*NH*HS, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		s := AttnShape{B: B, T: T, S: S, NH: NH, NKV: NKV, HS: HS, Pos0: n - T}
		if T == 1 {
			s.Pos0 = 0
		}
		c, err := a.Cached(out.View, nil, bq, bk, bv, s)
		if err == nil && T == 1 {
			err = c.SetPos(n - T)
		}
		if err != nil {
			return err
		}
		rec.dispatch(c.Call, nil)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, attnTol)
}

// cachedAttnRef is ref attention over the first n of S cached positions:
// q is (B,n,NH,HS), k and v (B,S,NKV,HS).
func cachedAttnRef(q, k, v []float32, B, n, S, NH, NKV, HS int) []float32 {
	out := make([]float32, B*n*NH*HS)
	kv := NKV * HS
	for b := 0; b < B; b++ {
		kb, vb := k[b*S*kv:(b*S+n)*kv], v[b*S*kv:(b*S+n)*kv]
		qb, ob := q[b*n*NH*HS:(b+1)*n*NH*HS], out[b*n*NH*HS:(b+1)*n*NH*HS]
		ref.AttentionForward(ob, nil, qb, kb, vb, 1, n, NH, NKV, HS)
	}
	return out
}

// lastRows returns rows n-T..n-1 of each of B sequences of n rows of w.
func lastRows(x []float32, B, n, T, w int) []float32 {
	var out []float32
	for b := 0; b < B; b++ {
		out = append(out, x[(b*n+n-T)*w:(b*n+n)*w]...)
	}
	return out
}

func checkAttention(d *gpu.Device, shapes []attnShape) error {
	a, err := NewAttention(d)
	if err != nil {
		return err
	}
	defer a.Free()
	rec := newRecording(d, "attention")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		nq, nkv, natt := s.B*s.T*s.NH*s.HS, s.B*s.T*s.NKV*s.HS, s.B*s.NH*s.T*s.T
		q := seededF32(uint64(60+3*i), nq, 1)
		k := seededF32(uint64(61+3*i), nkv, 1)
		v := seededF32(uint64(62+3*i), nkv, 2)
		var bufs []*gpu.Buffer
		for _, in := range []struct {
			name string
			v    []float32
		}{{"q", q}, {"k", k}, {"v", v}} {
			b, err := inputBuffer(d, in.name+" "+s.String(), in.v)
			if err != nil {
				return err
			}
			defer b.Free()
			bufs = append(bufs, b)
		}
		out, err := NewGuarded(d, "attention out "+s.String(), nq, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		wantOut, wantAtt := make([]float32, nq), make([]float32, natt)
		ref.AttentionForward(wantOut, wantAtt, q, k, v, s.B, s.T, s.NH, s.NKV, s.HS)
		want = append(want, wantOut)
		var attBuf *gpu.Buffer
		if s.withAtt {
			// Start from NaN so that the zeros above the diagonal are
			// proven written.
			nan := make([]float32, natt)
			for j := range nan {
				nan[j] = float32(math.NaN())
			}
			ga, err := NewGuarded(d, "attention att "+s.String(), natt, nan)
			if err != nil {
				return err
			}
			outs = append(outs, ga)
			want = append(want, wantAtt)
			attBuf = ga.View
		}
		rec.dispatch(a.Forward(out.View, attBuf, bufs[0], bufs[1], bufs[2], s.B, s.T, s.NH, s.NKV, s.HS))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, attnTol)
}
