package ops

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// AttentionTrain launches attention for training: a forward that saves each
// query row's log-sum-exp (attention_lse_fwd.wgsl) and a backward in two
// passes that recomputes the probabilities from it, FlashAttention-2 style,
// so no (T,S) probability matrix is ever stored: attention_dq_bwd.wgsl (one
// workgroup per query row: dq and the row term delta) and then
// attention_dkv_bwd.wgsl (one workgroup per key row: dk and dv). No pass
// uses atomics. Long sequences, and every sequence on CPU adapters, run the
// flash variant instead (attention_flash.go: one invocation per row, an
// online softmax over key blocks, no workgroup memory). The kernels are
// built once, in NewAttentionTrain.
//
// Shapes are AttnShape's: q, out, dout and dq are (B,T,NH,HS); k, v, dk and
// dv are (B,S,NKV,HS); lse and delta are (B,NH,T). The queries sit at
// positions Pos0..Pos0+T-1 and query t sees keys s <= Pos0+t, so with
// S = Pos0+T the first Pos0 key slots may hold trainable prefix vectors
// (prefix tuning): dk and dv cover all S slots.
type AttentionTrain struct {
	d            *gpu.Device
	fwd, dq, dkv *gpu.Kernel
	// The flash kernels (attention_flash.go) run every shape with
	// S >= FlashFrom or S > 2048 (the others' workgroup-memory limit) and
	// HS % 4 == 0. NewAttentionTrain sets FlashFromCPU on software
	// adapters, FlashFromGPU on real ones.
	FlashFrom       int
	ffwd, fdq, fdkv *gpu.Kernel
	none            *gpu.Buffer // bound as the flash forward's running sum when it needs none
	tripBudget      int         // loop trips per flash invocation (attnMaxTrips)
}

const (
	attnWG = 256 // const WG of the three training attention shaders
	// attnMaxTrips bounds the loop trips per invocation of the backward
	// kernels (attnBwdTrips), with room below lavapipe's 65535 for the
	// few loops the count leaves out.
	attnMaxTrips = 49152
)

// attnTrainParams is the Params struct of attention_lse_fwd.wgsl,
// attention_dq_bwd.wgsl and attention_dkv_bwd.wgsl; Rows is the number of
// workgroups (query rows B*NH*T, or key rows B*NKV*S for dkv).
type attnTrainParams struct {
	T, NH, NKV, HS, Rows uint32
	Scale                float32
	S, Pos0              uint32
}

func attnTrainParamsOf(s AttnShape, rows int) attnTrainParams {
	return attnTrainParams{
		T: uint32(s.T), NH: uint32(s.NH), NKV: uint32(s.NKV), HS: uint32(s.HS), Rows: uint32(rows),
		Scale: float32(1 / math.Sqrt(float64(s.HS))), S: uint32(s.S), Pos0: uint32(s.Pos0),
	}
}

// NewAttentionTrain builds the kernels on d.
func NewAttentionTrain(d *gpu.Device) (*AttentionTrain, error) {
	fwd, err := d.Kernel("attention_lse_fwd.wgsl", rowReduce,
		gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	dq, err := d.Kernel("attention_dq_bwd.wgsl", rowReduce,
		gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	dkv, err := d.Kernel("attention_dkv_bwd.wgsl", nil,
		gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	a := &AttentionTrain{d: d, fwd: fwd, dq: dq, dkv: dkv, FlashFrom: FlashFromGPU, tripBudget: attnMaxTrips}
	if d.Info.IsCPU() {
		a.FlashFrom = FlashFromCPU
	}
	if a.ffwd, a.fdq, a.fdkv, err = newFlashKernels(d); err != nil {
		return nil, err
	}
	if a.none, err = d.NewBuffer("attention.no-lsum", 4); err != nil {
		return nil, err
	}
	return a, nil
}

// Free releases the placeholder buffer.
func (a *AttentionTrain) Free() { a.none.Free() }

// AttnCalls is one attention pass ready to record: its dispatches, in
// order, and the buffers they own (the backward's delta, a chunked
// forward's running sums).
type AttnCalls struct {
	Calls []*gpu.Call
	Owned []*gpu.Buffer
}

// Record appends the dispatches to r, in order.
func (c *AttnCalls) Record(r *gpu.Recorder) {
	for _, call := range c.Calls {
		r.Dispatch(call)
	}
}

// Free releases the calls and the buffers they own.
func (c *AttnCalls) Free() {
	for _, call := range c.Calls {
		call.Free()
	}
	for _, b := range c.Owned {
		b.Free()
	}
}

// Forward returns the call for causal grouped-query attention
// (ref.AttentionForward, as Attention.Cached computes it) that also writes
// lse[b,h,t] = log sum over s <= Pos0+t of exp(q[b,t,h,:] . k[b,s,g,:] /
// sqrt(HS)), the log-sum-exp of query row (b,h,t)'s scaled scores, which
// Backward needs. HS <= 256; S <= 2048 unless HS % 4 == 0 (the flash
// kernels).
func (a *AttentionTrain) Forward(out, lse, q, k, v *gpu.Buffer, s AttnShape) (*AttnCalls, error) {
	name := a.fwd.Name
	flash := a.useFlash(s)
	if flash {
		name = a.ffwd.Name
	}
	if err := checkAttnTrainShape(name, s, flash); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.T*s.NH*s.HS, out, q); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.S*s.NKV*s.HS, k, v); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.NH*s.T, lse); err != nil {
		return nil, err
	}
	if flash {
		return a.flashForward(out, lse, q, k, v, s)
	}
	rows := s.B * s.NH * s.T
	grid, err := groupGrid(a.d, rows)
	if err != nil {
		return nil, err
	}
	c, err := a.fwd.Call(grid, attnTrainParamsOf(s, rows), q, k, v, out, lse)
	if err != nil {
		return nil, err
	}
	return &AttnCalls{Calls: []*gpu.Call{c}}, nil
}

// Backward returns the dispatches of Forward's backward pass
// (ref.AttentionBackward): given dout, the inputs q, k, v and Forward's
// out and lse, they write (=, not +=) dq (B,T,NH,HS) and dk, dv
// (B,S,NKV,HS), every one of the S key slots (0 for a slot no query sees).
// With p = exp(z - lse) recomputed from the scaled score z and
// delta = dout . out per query row:
//
//	ds = p * (dout . v - delta) / sqrt(HS)
//	dq += ds * k;  dk += ds * q;  dv += p * dout
//
// summed over the (t, s) pairs with s <= Pos0+t and, for dk and dv, over
// the NH/NKV query heads of each key head. No gradient may alias an input.
func (a *AttentionTrain) Backward(dq, dk, dv, dout, q, k, v, out, lse *gpu.Buffer, s AttnShape) (*AttnCalls, error) {
	name := a.dq.Name + "+" + a.dkv.Name
	flash := a.useFlash(s)
	if flash {
		name = a.fdq.Name + "+" + a.fdkv.Name
	}
	if err := checkAttnTrainShape(name, s, flash); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.T*s.NH*s.HS, dq, dout, q, out); err != nil {
		return nil, err
	}
	if err := needFloats(name, s.B*s.S*s.NKV*s.HS, dk, dv, k, v); err != nil {
		return nil, err
	}
	qrows, krows := s.B*s.NH*s.T, s.B*s.NKV*s.S
	if err := needFloats(name, qrows, lse); err != nil {
		return nil, err
	}
	if flash {
		return a.flashBackward(dq, dk, dv, dout, q, k, v, out, lse, s)
	}
	qgrid, err := groupGrid(a.d, qrows)
	if err != nil {
		return nil, err
	}
	kgrid, err := groupGrid(a.d, krows)
	if err != nil {
		return nil, err
	}
	delta, err := a.d.NewBuffer("attention.delta", 4*uint64(qrows))
	if err != nil {
		return nil, err
	}
	c := &AttnCalls{Owned: []*gpu.Buffer{delta}}
	for _, k := range []struct {
		k    *gpu.Kernel
		grid gpu.Grid
		rows int
		bufs []*gpu.Buffer
	}{
		{a.dq, qgrid, qrows, []*gpu.Buffer{dout, q, k, v, out, lse, dq, delta}},
		{a.dkv, kgrid, krows, []*gpu.Buffer{dout, q, k, v, lse, delta, dk, dv}},
	} {
		call, err := k.k.Call(k.grid, attnTrainParamsOf(s, k.rows), k.bufs...)
		if err != nil {
			c.Free()
			return nil, err
		}
		c.Calls = append(c.Calls, call)
	}
	return c, nil
}

// checkAttnTrainShape adds the backward's loop bound to checkAttnShape;
// the flash kernels, whose S has no workgroup-memory limit and whose loops
// are split over dispatches, only need HS % 4 == 0.
func checkAttnTrainShape(name string, s AttnShape, flash bool) error {
	if flash {
		return checkFlashShape(name, s)
	}
	if err := checkAttnShape(name, s); err != nil {
		return err
	}
	if n := attnBwdTrips(s); n > attnMaxTrips {
		return fmt.Errorf("ops: %s: %v needs %d loop trips per invocation, over %d (lavapipe stops at 65535)",
			name, s, n, attnMaxTrips)
	}
	return nil
}

// attnBwdTrips is the larger per-invocation loop trip count of the two
// backward kernels: tiles of WG keys (dq) or (head, query) pairs (dkv),
// each an HS-long dot product and a share of WG/(WG/HS) accumulations.
func attnBwdTrips(s AttnShape) int {
	parts := attnWG / s.HS
	perTile := s.HS + (attnWG+parts-1)/parts + 1
	tiles := func(n int) int { return (n + attnWG - 1) / attnWG }
	dq := tiles(s.S)*perTile + s.HS + parts + 8
	dkv := tiles(s.NH/s.NKV*s.T)*perTile + s.HS + parts
	return max(dq, dkv)
}

// Parity cases.

// attnBwdTol: dq, dk and dv are f32 sums of up to NH/NKV*T terms, each a
// product of exp, two HS-term dot products and (dP - delta), against the
// float64 ref; Abs covers gradients that cancel to near zero. Measured on
// lavapipe: max |d| 9.5e-7 (dv, T=300, values up to 2.6), 2e-6 at T=2048.
var attnBwdTol = Tol{Abs: 1e-5, Rel: 1e-4}

// attnLSETol: lse is a max plus the log of an f32 sum of up to S terms
// (measured: max |d| 9.5e-7 on values up to 7.9).
var attnLSETol = Tol{Abs: 1e-5, Rel: 1e-5}

// attentionTrainCases check the training forward (out, lse) and backward
// (dq, dk, dv over all S slots) against the float64 ref, the backward fed
// with the GPU forward's own out and lse in the same submit, as a training
// step runs them. Pos0 = 5 with S = Pos0+T puts 5 prefix slots before the
// queries. T=300 runs the key and pair loops over more than one tile.
func attentionTrainCases() []Case {
	sh := func(B, T, NH, NKV, HS, P int) AttnShape {
		return AttnShape{B: B, T: T, S: P + T, NH: NH, NKV: NKV, HS: HS, Pos0: P}
	}
	cases := []struct {
		name   string
		shapes []AttnShape
	}{
		{"gqa-NH=4-NKV=2", []AttnShape{sh(1, 1, 4, 2, 64, 0), sh(2, 7, 4, 2, 64, 0), sh(2, 37, 4, 2, 8, 0), sh(1, 37, 4, 2, 64, 0)}},
		{"gqa-prefix-P=5", []AttnShape{sh(1, 1, 4, 2, 64, 5), sh(2, 37, 4, 2, 64, 5), sh(2, 9, 4, 2, 24, 5)}},
		{"mha-NH=NKV=3", []AttnShape{sh(1, 1, 3, 3, 8, 0), sh(2, 37, 3, 3, 64, 0), sh(2, 23, 3, 3, 64, 5)}},
		{"T=300", []AttnShape{sh(1, 300, 4, 2, 64, 0)}},
		{"T=300-P=5", []AttnShape{sh(1, 300, 4, 2, 64, 5)}},
	}
	var out []Case
	for _, c := range cases {
		out = append(out, Case{"attention-train/" + c.name, func(d *gpu.Device) error {
			return checkAttentionTrain(d, c.shapes, attnWorkgroup)
		}})
	}
	for _, c := range cases {
		out = append(out, Case{"attention-train-flash/" + c.name, func(d *gpu.Device) error {
			return checkAttentionTrain(d, c.shapes, attnFlash)
		}})
	}
	// A trip budget of 700 splits S=305 (HS=64) into 76-key forward and dq
	// chunks and 36-query dk/dv chunks: it checks the state each chunk
	// hands on to the next.
	out = append(out, Case{"attention-train-flash/chunked", func(d *gpu.Device) error {
		return checkAttentionTrain(d, []AttnShape{sh(1, 300, 4, 2, 64, 5), sh(2, 37, 3, 3, 8, 0)}, attnFlashChunked)
	}})
	return out
}

// The attention kernels a parity case runs: the workgroup-per-row ones,
// the flash ones, and the flash ones split into many chunks.
const (
	attnWorkgroup = iota
	attnFlash
	attnFlashChunked
)

// checkAttentionTrain runs forward and backward for each shape in one
// submit on the given kernels (attnWorkgroup, attnFlash,
// attnFlashChunked) and compares out, lse, dq, dk and dv with
// attnTrainRef.
func checkAttentionTrain(d *gpu.Device, shapes []AttnShape, variant int) error {
	a, err := NewAttentionTrain(d)
	if err != nil {
		return err
	}
	defer a.Free()
	switch variant {
	case attnWorkgroup:
		a.FlashFrom = FlashFromGPU
	case attnFlash:
		a.FlashFrom = 1
	case attnFlashChunked:
		a.FlashFrom, a.tripBudget = 1, 700
	}
	rec := newRecording(d, "attention-train")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	var tols []Tol
	for i, s := range shapes {
		nq, nkv, nl := s.B*s.T*s.NH*s.HS, s.B*s.S*s.NKV*s.HS, s.B*s.NH*s.T
		g := newSeeded(uint64(90 + i))
		q, k, v, dout := g.next(nq, 2), g.next(nkv, 1), g.next(nkv, 2), g.next(nq, 1)
		var in []*gpu.Buffer
		for j, x := range [][]float32{q, k, v, dout} {
			b, err := inputBuffer(d, []string{"q", "k", "v", "dout"}[j]+" "+s.String(), x)
			if err != nil {
				return err
			}
			defer b.Free()
			in = append(in, b)
		}
		var gs []*Guarded
		for j, n := range []int{nq, nl, nq, nkv, nkv} {
			g, err := NewGuarded(d, []string{"out", "lse", "dq", "dk", "dv"}[j]+" "+s.String(), n, nil)
			if err != nil {
				return err
			}
			outs = append(outs, g)
			gs = append(gs, g)
		}
		wOut, wLSE, wDQ, wDK, wDV := attnTrainRef(q, k, v, dout, s)
		want = append(want, wOut, wLSE, wDQ, wDK, wDV)
		tols = append(tols, attnTol, attnLSETol, attnBwdTol, attnBwdTol, attnBwdTol)
		out, lse, dq, dk, dv := gs[0].View, gs[1].View, gs[2].View, gs[3].View, gs[4].View
		fwd, err := a.Forward(out, lse, in[0], in[1], in[2], s)
		if err != nil {
			return err
		}
		defer fwd.Free()
		bwd, err := a.Backward(dq, dk, dv, in[3], in[0], in[1], in[2], out, lse, s)
		if err != nil {
			return err
		}
		defer bwd.Free()
		for _, c := range append(fwd.Calls, bwd.Calls...) {
			rec.dispatch(c, nil)
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i, g := range outs {
		got, err := g.Read()
		if err != nil {
			return err
		}
		if err := Close(g.View.Label, got, want[i], tols[i]); err != nil {
			return err
		}
	}
	return nil
}

// attnTrainRef is the float64 reference of one training attention call.
// ref.AttentionForward and ref.AttentionBackward know no Pos0, so they run
// over S = Pos0+T query rows, the first Pos0 of them dummies (q = 0,
// dout = 0): a dummy row's dout of 0 gives it dS = 0, so it adds nothing to
// dk or dv, and rows Pos0.. see exactly keys s <= Pos0+t. lse is summed
// here, in float64. Needs S = Pos0+T.
func attnTrainRef(q, k, v, dout []float32, s AttnShape) (out, lse, dq, dk, dv []float32) {
	B, T, S, NH, NKV, HS, P := s.B, s.T, s.S, s.NH, s.NKV, s.HS, s.Pos0
	w := NH * HS
	pad := func(x []float32) []float64 {
		y := make([]float64, B*S*w)
		for b := range B {
			for i, xv := range x[b*T*w : (b+1)*T*w] {
				y[(b*S+P)*w+i] = float64(xv)
			}
		}
		return y
	}
	qp, doutp := pad(q), pad(dout)
	k64, v64 := trainWiden(k), trainWiden(v)
	outp, att := make([]float64, B*S*w), make([]float64, B*NH*S*S)
	ref.AttentionForward(outp, att, qp, k64, v64, B, S, NH, NKV, HS)
	dqp, dk64, dv64 := make([]float64, B*S*w), make([]float64, len(k)), make([]float64, len(v))
	ref.AttentionBackward(dqp, dk64, dv64, doutp, qp, k64, v64, att, B, S, NH, NKV, HS)

	lse = make([]float32, B*NH*T)
	scale := 1 / math.Sqrt(float64(HS))
	z := make([]float64, S)
	for b := range B {
		for h := range NH {
			g := h / (NH / NKV)
			for t := range T {
				qh := qp[((b*S+P+t)*NH+h)*HS:][:HS]
				m := math.Inf(-1)
				for j := 0; j <= P+t; j++ {
					kh := k64[((b*S+j)*NKV+g)*HS:][:HS]
					var d float64
					for i, qv := range qh {
						d += qv * kh[i]
					}
					z[j] = d * scale
					m = max(m, z[j])
				}
				var sum float64
				for j := 0; j <= P+t; j++ {
					sum += math.Exp(z[j] - m)
				}
				lse[(b*NH+h)*T+t] = float32(m + math.Log(sum))
			}
		}
	}
	return lastRows(trainNarrow(outp), B, S, T, w), lse, lastRows(trainNarrow(dqp), B, S, T, w), trainNarrow(dk64), trainNarrow(dv64)
}

// trainWiden and trainNarrow convert between the f32 buffers and float64 refs.
func trainWiden(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func trainNarrow(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
