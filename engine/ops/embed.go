package ops

import (
	"errors"
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
	"webpeft/engine/tensor"
)

// Embed launches the embedding gathers: out (n, C) = rows tokens[i] of a
// (V, C) table, f32 (embed_f32_fwd.wgsl) or quantized Q8_0 / Q4_0 kept
// packed and decoded in the kernel (embed_q8_0_fwd.wgsl,
// embed_q4_0_fwd.wgsl). The kernels are built once, in NewEmbed. Token ids
// are a u32 buffer (NewTokens uploads and validates them); a kernel clamps
// an out-of-range id to row V-1, so it never reads outside the table.
type Embed struct {
	d     *gpu.Device
	f32   *gpu.Kernel
	quant map[tensor.QuantType]*gpu.Kernel
}

// embedWG is the workgroup size (const WG) of the embed kernels.
const embedWG = 256

// embedFiles names, per quantized type, its embed kernel; the decoder
// snippets are quantFiles' include list.
var embedFiles = map[tensor.QuantType]string{
	tensor.Q8_0: "embed_q8_0_fwd.wgsl",
	tensor.Q4_0: "embed_q4_0_fwd.wgsl",
}

// embedParams is the Params struct of the embed kernels.
type embedParams struct {
	Elems uint32 // n * C
	Vocab uint32 // V
	Cols  uint32 // C
	Row   uint32 // invocations per grid row (see flatGrid)
}

// NewEmbed builds the embed kernels on d.
func NewEmbed(d *gpu.Device) (*Embed, error) {
	f, err := d.Kernel("embed_f32_fwd.wgsl", nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	e := &Embed{d: d, f32: f, quant: map[tensor.QuantType]*gpu.Kernel{}}
	for _, t := range quantTypes() {
		k, err := d.Kernel(embedFiles[t], quantFiles[t].include, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
		if err != nil {
			return nil, err
		}
		e.quant[t] = k
	}
	return e, nil
}

// NewTokens uploads token ids into a new u32 buffer, refusing any id
// outside 0..V-1 (where the host knows the ids, a bad one is an error
// rather than the kernels' silent clamp).
func NewTokens(d *gpu.Device, label string, ids []int, V int) (*gpu.Buffer, error) {
	return uploadIDs(d, label, ids, V, false)
}

// uploadIDs uploads ids < V as u32; with masked, -1 is allowed too and
// uploaded as 0xFFFFFFFF.
func uploadIDs(d *gpu.Device, label string, ids []int, V int, masked bool) (*gpu.Buffer, error) {
	if len(ids) == 0 || len(ids) > maxElems {
		return nil, fmt.Errorf("ops: %s: %d ids is outside 1..%d", label, len(ids), maxElems)
	}
	u := make([]uint32, len(ids))
	for i, id := range ids {
		switch {
		case masked && id == -1:
			u[i] = 0xFFFFFFFF
		case id < 0 || id >= V:
			return nil, fmt.Errorf("ops: %s: id %d at %d is outside 0..%d", label, id, i, V-1)
		default:
			u[i] = uint32(id)
		}
	}
	b, err := d.NewBuffer(label, 4*uint64(len(u)))
	if err != nil {
		return nil, err
	}
	if err := b.UploadU32(0, u); err != nil {
		b.Free()
		return nil, err
	}
	return b, nil
}

// needIDs checks that buffer b holds at least n u32 ids.
func needIDs(kernel string, n int, b *gpu.Buffer) error {
	return needFloats(kernel+" ids", n, b) // u32s are 4 bytes, as float32s
}

// F32 returns the call out[i*C+c] = table[tok_i*C+c] for i < n, c < C,
// tok_i = min(tokens[i], V-1) (ref.EncoderForward with wpe nil): table is
// (V, C) f32, tokens n u32 ids, out (n, C).
func (e *Embed) F32(out, table, tokens *gpu.Buffer, n, V, C int) (*gpu.Call, error) {
	name := e.f32.Name
	if V < 1 || C < 1 || V > maxElems/C {
		return nil, fmt.Errorf("ops: %s: table (%d, %d): none or too large", name, V, C)
	}
	if n < 1 || n > maxElems/C {
		return nil, fmt.Errorf("ops: %s: %d tokens of %d columns: too many or none", name, n, C)
	}
	if err := needFloats(name+" table", V*C, table); err != nil {
		return nil, err
	}
	if err := needFloats(name+" out", n*C, out); err != nil {
		return nil, err
	}
	if err := needIDs(name, n, tokens); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(e.d, n*C, embedWG)
	if err != nil {
		return nil, err
	}
	p := embedParams{Elems: uint32(n * C), Vocab: uint32(V), Cols: uint32(C), Row: row}
	return e.f32.Call(grid, p, tokens, table, out)
}

// Quant returns the call out[i*C+c] = dequant(table)[tok_i][c] for i < n,
// c < C, tok_i = min(tokens[i], V-1), (V, C) = (table.N, table.K): the
// table stays quantized and is decoded in the kernel, bit-exact with
// tensor.Decode.
func (e *Embed) Quant(out *gpu.Buffer, table *QuantWeights, tokens *gpu.Buffer, n int) (*gpu.Call, error) {
	if table == nil {
		return nil, errors.New("ops: embed: nil table")
	}
	k, ok := e.quant[table.Type]
	if !ok {
		return nil, fmt.Errorf("ops: embed: no kernel for %v tables", table.Type)
	}
	V, C := table.N, table.K
	if n < 1 || n > maxElems/C {
		return nil, fmt.Errorf("ops: %s: %d tokens of %d columns: too many or none", k.Name, n, C)
	}
	if err := needFloats(k.Name+" out", n*C, out); err != nil {
		return nil, err
	}
	if err := needIDs(k.Name, n, tokens); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(e.d, n*C, embedWG)
	if err != nil {
		return nil, err
	}
	p := embedParams{Elems: uint32(n * C), Vocab: uint32(V), Cols: uint32(C), Row: row}
	return k.Call(grid, p, tokens, table.Quants, table.Scales, out)
}

// embedShape is one embed case input: n tokens from a (V, C) table.
type embedShape struct{ n, V, C int }

func (s embedShape) String() string { return fmt.Sprintf("n=%d V=%d C=%d", s.n, s.V, s.C) }

// embedLossCases check the embedding gathers (f32 and quantized, Exact: a
// gather copies, and the in-kernel decode is bit-exact with tensor.Decode)
// and the cross-entropy forward (xentTol against a float64 ref).
func embedLossCases() []Case {
	cases := []Case{
		{"embed/f32", checkEmbedF32},
		{"embed/refuses-bad-input", checkEmbedRefuses},
	}
	for _, t := range quantTypes() {
		cases = append(cases, Case{fmt.Sprintf("embed/%v", t), func(d *gpu.Device) error { return checkEmbedQuant(d, t) }})
	}
	return append(cases, xentCases()...)
}

// embedTokens returns n seeded ids in 0..V-1, the first V-1 and the second
// 0 when there are that many; and the same as raw u32s with the last one
// replaced by an out-of-range id (V + 5, or 0xFFFFFFFF), which the kernel
// must clamp to V-1. want is computed from the clamped ids.
func embedTokens(g seeded, n, V int) (ids []int, raw []uint32) {
	ids = make([]int, n)
	raw = make([]uint32, n)
	for i := range ids {
		ids[i] = g.r.IntN(V)
	}
	ids[0] = V - 1
	if n > 1 {
		ids[1] = 0
	}
	for i, id := range ids {
		raw[i] = uint32(id)
	}
	if n > 2 {
		raw[n-1] = uint32(V + 5)
		raw[n-2] = 0xFFFFFFFF
		ids[n-1], ids[n-2] = V-1, V-1
	}
	return ids, raw
}

// rawTokens uploads raw u32 ids, bypassing NewTokens' validation, to test
// the kernels' clamp.
func rawTokens(d *gpu.Device, label string, raw []uint32) (*gpu.Buffer, error) {
	b, err := d.NewBuffer(label, 4*uint64(len(raw)))
	if err != nil {
		return nil, err
	}
	if err := b.UploadU32(0, raw); err != nil {
		b.Free()
		return nil, err
	}
	return b, nil
}

func checkEmbedF32(d *gpu.Device) error {
	e, err := NewEmbed(d)
	if err != nil {
		return err
	}
	shapes := []embedShape{{1, 3, 37}, {7, 257, 37}, {37, 50, 64}, {7, 31, 576}, {37, 5, 576}}
	rec := newRecording(d, "embed f32")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		g := newSeeded(uint64(300 + i))
		table := g.next(s.V*s.C, 2)
		ids, raw := embedTokens(g, s.n, s.V)
		bt, err := inputBuffer(d, "table "+s.String(), table)
		if err != nil {
			return err
		}
		defer bt.Free()
		btok, err := rawTokens(d, "tokens "+s.String(), raw)
		if err != nil {
			return err
		}
		defer btok.Free()
		out, err := NewGuarded(d, "embed_f32 "+s.String(), s.n*s.C, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(e.F32(out.View, bt, btok, s.n, s.V, s.C))
		w := make([]float32, s.n*s.C)
		ref.EncoderForward(w, ids, table, nil, 1, s.n, s.C)
		want = append(want, w)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, Exact)
}

func checkEmbedQuant(d *gpu.Device, t tensor.QuantType) error {
	e, err := NewEmbed(d)
	if err != nil {
		return err
	}
	shapes := []embedShape{{1, 3, 64}, {7, 257, 64}, {37, 50, 64}, {7, 31, 576}, {37, 5, 576}}
	rec := newRecording(d, "embed "+t.String())
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		g := newSeeded(uint64(400 + i))
		raw := randomBlocks(g, t, s.V, s.C)
		ids, rawIDs := embedTokens(g, s.n, s.V)
		w, err := NewQuantWeights(d, "table "+s.String(), t, raw, s.V, s.C)
		if err != nil {
			return err
		}
		defer w.Free()
		btok, err := rawTokens(d, "tokens "+s.String(), rawIDs)
		if err != nil {
			return err
		}
		defer btok.Free()
		out, err := NewGuarded(d, fmt.Sprintf("embed_%v %v", t, s), s.n*s.C, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(e.Quant(out.View, w, btok, s.n))
		table := make([]float32, s.V*s.C)
		if err := tensor.Decode(t, table, raw); err != nil {
			return err
		}
		ref := make([]float32, s.n*s.C)
		refEmbed(ref, ids, table, s.n, s.C)
		want = append(want, ref)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, Exact)
}

// refEmbed is ref.EncoderForward with no position embeddings.
func refEmbed(out []float32, ids []int, table []float32, n, C int) {
	ref.EncoderForward(out, ids, table, nil, 1, n, C)
}
