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
	name := a.k.Name
	if B <= 0 || T <= 0 || NH <= 0 || NKV <= 0 || HS <= 0 || NH%NKV != 0 {
		return nil, fmt.Errorf("ops: %s: bad shape B=%d T=%d NH=%d NKV=%d HS=%d (NH must be a multiple of NKV)", name, B, T, NH, NKV, HS)
	}
	if T > attnMaxT || HS > attnMaxHS {
		return nil, fmt.Errorf("ops: %s: T=%d HS=%d is over the kernel's T <= %d, HS <= %d", name, T, HS, attnMaxT, attnMaxHS)
	}
	if B*T > maxElems/NH || B*T*NH > maxElems/HS || B*NH*T > maxElems/T {
		return nil, fmt.Errorf("ops: %s: B=%d T=%d NH=%d HS=%d is too large", name, B, T, NH, HS)
	}
	if err := needFloats(name, B*T*NH*HS, out, q); err != nil {
		return nil, err
	}
	if err := needFloats(name, B*T*NKV*HS, k, v); err != nil {
		return nil, err
	}
	write := uint32(1)
	if att == nil {
		att, write = a.none, 0
	} else if err := needFloats(name, B*NH*T*T, att); err != nil {
		return nil, err
	}
	rows := B * NH * T
	grid, err := groupGrid(a.d, rows)
	if err != nil {
		return nil, err
	}
	p := attnParams{
		T: uint32(T), NH: uint32(NH), NKV: uint32(NKV), HS: uint32(HS), Rows: uint32(rows),
		WriteAtt: write, Scale: float32(1 / math.Sqrt(float64(HS))),
	}
	return a.k.Call(grid, p, q, k, v, out, att)
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
	}
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
