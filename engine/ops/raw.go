package ops

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"webpeft/engine/gpu"
	"webpeft/engine/tensor"
)

// Frozen weights of the GGUF types with no repacked layout (F16, BF16 and
// the block formats other than Q8_0 and Q4_0) stay on the GPU as the
// file's bytes, and the kernels decode them bit-exactly as tensor.Decode:
// one matmul and one embedding gather shared by every type, with the
// type's decoder prepended as a snippet that defines wquad(row, k).

// The kernels shared by every raw type.
const (
	rawMatMulFile = "matmul_raw_rb_fwd.wgsl"
	rawEmbedFile  = "embed_raw_fwd.wgsl"
)

// rawSnippets names, per type, the snippets (after f16_decode.wgsl and
// raw_bytes.wgsl) whose last one defines wquad.
var rawSnippets = map[tensor.Type][]string{
	tensor.F16:    {"f16_raw_quad.wgsl"},
	tensor.BF16:   {"bf16_raw_quad.wgsl"},
	tensor.Q4_1:   {"q4_1_raw_quad.wgsl"},
	tensor.Q5_0:   {"q5_0_raw_quad.wgsl"},
	tensor.Q5_1:   {"q5_1_raw_quad.wgsl"},
	tensor.IQ4_NL: {"iq4_nl_raw_quad.wgsl"},
	tensor.Q4_K:   {"k4_scale_min.wgsl", "q4_k_raw_quad.wgsl"},
	tensor.Q5_K:   {"k4_scale_min.wgsl", "q5_k_raw_quad.wgsl"},
	tensor.Q6_K:   {"q6_k_raw_quad.wgsl"},
}

// rawInclude is the include list of type t's snippets.
func rawInclude(t tensor.Type) []string {
	return append([]string{"f16_decode.wgsl", "raw_bytes.wgsl"}, rawSnippets[t]...)
}

// RawTypes lists the types with raw-weight kernels, in case order.
func RawTypes() []tensor.Type {
	return []tensor.Type{tensor.F16, tensor.BF16, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.IQ4_NL, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K}
}

// RawWeights is a frozen (N, K) weight matrix in its GGUF bytes on the GPU:
// the N row-major rows, concatenated as the file stores them, padded at the
// end to a multiple of 4 bytes. It is never expanded to f32 in GPU memory.
type RawWeights struct {
	Type tensor.Type
	N, K int // rows (output features or vocabulary), columns (a multiple of 4 and of the block length)
	Buf  *gpu.Buffer
}

// NewRawWeights uploads raw, the N*K values of a row-major tensor of type t
// as GGUF stores them. A matrix larger than the device's storage binding
// must be split by rows by the caller.
func NewRawWeights(d *gpu.Device, label string, t tensor.Type, raw []byte, N, K int) (*RawWeights, error) {
	if _, ok := rawSnippets[t]; !ok {
		return nil, fmt.Errorf("ops: %s: no raw-weight kernels for %v", label, t)
	}
	if N < 1 || K < 4 || K%4 != 0 || K > MaxMatMulK || N > maxElems/K {
		return nil, fmt.Errorf("ops: %s: shape (%d, %d) outside 1..%d rows of 4..%d columns (a multiple of 4)",
			label, N, K, maxElems, MaxMatMulK)
	}
	row, err := t.RowBytes(K)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", label, err)
	}
	if len(raw) != N*row {
		return nil, fmt.Errorf("ops: %s: (%d, %d) %v is %d bytes, have %d", label, N, K, t, N*row, len(raw))
	}
	if uint64(len(raw)) > d.Limits.MaxStorageBufferBindingSize {
		return nil, fmt.Errorf("ops: %s: %d bytes exceed the device's storage binding of %d: split the rows",
			label, len(raw), d.Limits.MaxStorageBufferBindingSize)
	}
	b, err := d.NewBuffer(label, uint64(len(raw)))
	if err != nil {
		return nil, err
	}
	if err := b.Upload(0, raw); err != nil {
		b.Free()
		return nil, err
	}
	return &RawWeights{Type: t, N: N, K: K, Buf: b}, nil
}

// Free releases the buffer.
func (w *RawWeights) Free() { w.Buf.Free() }

// RawMatMul launches y (M, N) = x (M, K) @ decode(W)^T for raw weights W
// (N, K) of one type, decoding W in the kernel (register-blocked, as
// MatMul's RegisterBlocked variant). Its kernel is built once, in
// NewRawMatMul.
type RawMatMul struct {
	Type   tensor.Type
	kernel *gpu.Kernel
}

// NewRawMatMul builds the matmul kernel for raw weights of type t on d.
func NewRawMatMul(d *gpu.Device, t tensor.Type) (*RawMatMul, error) {
	if _, ok := rawSnippets[t]; !ok {
		return nil, fmt.Errorf("ops: no raw-weight matmul for %v", t)
	}
	include := append(rbTileSnippet[:len(rbTileSnippet):len(rbTileSnippet)], rawInclude(t)...)
	k, err := d.Kernel(rawMatMulFile, include, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &RawMatMul{Type: t, kernel: k}, nil
}

// Call returns the dispatch y (M, N) = x (M, K) @ decode(w)^T with
// (N, K) = (w.N, w.K): y[m*N+n] = sum over k of x[m*K+k] * W[n][k].
func (m *RawMatMul) Call(y, x *gpu.Buffer, w *RawWeights, M int) (*gpu.Call, error) {
	name := fmt.Sprintf("%s (%v)", m.kernel.Name, m.Type)
	if w == nil || w.Type != m.Type {
		return nil, fmt.Errorf("ops: %s: weights are not %v", name, m.Type)
	}
	if M < 1 || M > maxElems/w.N || M > maxElems/w.K {
		return nil, fmt.Errorf("ops: %s: M=%d outside 1..%d for N=%d, K=%d", name, M, maxElems, w.N, w.K)
	}
	if err := needFloats(name+" y", M*w.N, y); err != nil {
		return nil, err
	}
	if err := needFloats(name+" x", M*w.K, x); err != nil {
		return nil, err
	}
	grid, cols := rbGrid(M, w.N)
	p := matmulParams{M: uint32(M), N: uint32(w.N), K: uint32(w.K), Cols: uint32(cols)}
	return m.kernel.Call(grid, p, x, w.Buf, y)
}

// RawEmbed launches the embedding gather out (n, C) = rows tokens[i] of a
// raw (V, C) table of one type, decoded in the kernel. Its kernel is built
// once, in NewRawEmbed.
type RawEmbed struct {
	Type   tensor.Type
	d      *gpu.Device
	kernel *gpu.Kernel
}

// rawEmbedParams is the Params struct of embed_raw_fwd.wgsl.
type rawEmbedParams struct {
	Quads uint32 // n * C / 4: one invocation per 4 outputs
	Vocab uint32 // V
	K     uint32 // C
	Row   uint32 // invocations per grid row (see flatGrid)
}

// NewRawEmbed builds the embed kernel for raw tables of type t on d.
func NewRawEmbed(d *gpu.Device, t tensor.Type) (*RawEmbed, error) {
	if _, ok := rawSnippets[t]; !ok {
		return nil, fmt.Errorf("ops: no raw-weight embed for %v", t)
	}
	k, err := d.Kernel(rawEmbedFile, rawInclude(t), gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &RawEmbed{Type: t, d: d, kernel: k}, nil
}

// Call returns the call out[i*C+c] = decode(table)[tok_i][c] for i < n,
// c < C, tok_i = min(tokens[i], V-1), (V, C) = (table.N, table.K); tokens
// is a u32 buffer as NewTokens makes. Bit-exact with tensor.Decode.
func (e *RawEmbed) Call(out *gpu.Buffer, table *RawWeights, tokens *gpu.Buffer, n int) (*gpu.Call, error) {
	name := fmt.Sprintf("%s (%v)", e.kernel.Name, e.Type)
	if table == nil || table.Type != e.Type {
		return nil, fmt.Errorf("ops: %s: table is not %v", name, e.Type)
	}
	C := table.K
	if n < 1 || n > maxElems/C {
		return nil, fmt.Errorf("ops: %s: %d tokens of %d columns: too many or none", name, n, C)
	}
	if err := needFloats(name+" out", n*C, out); err != nil {
		return nil, err
	}
	if err := needIDs(name, n, tokens); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(e.d, n*C/4, embedWG)
	if err != nil {
		return nil, err
	}
	p := rawEmbedParams{Quads: uint32(n * C / 4), Vocab: uint32(table.N), K: uint32(C), Row: row}
	return e.kernel.Call(grid, p, tokens, table.Buf, out)
}

// rawCases check, per type, the matmul against ref.MatMul in float64 on
// the tensor.Decode'd weights (matmulTol: the decode is exact, so only
// the f32 sums differ) and the embed gather against tensor.Decode rows
// (Exact); then the refusals.
func rawCases() []Case {
	var cases []Case
	for _, t := range RawTypes() {
		cases = append(cases,
			Case{fmt.Sprintf("raw/matmul_%v", t), func(d *gpu.Device) error { return checkRawMatMul(d, t) }},
			Case{fmt.Sprintf("raw/embed_%v", t), func(d *gpu.Device) error { return checkRawEmbed(d, t) }},
		)
	}
	return append(cases, Case{"raw/refuses-bad-input", checkRawRefuses})
}

// rawScale is an f16 field of a block (for F16 and BF16: the value
// itself, bf16 for BF16): its byte offset, and the largest magnitude that
// keeps every decoded value within [-2, 2].
type rawScale struct {
	off   int
	bound float32
}

// rawScales lists each type's f16 fields: d (and m or dmin), bounded by
// the largest quant they multiply (Q4_K: 6-bit scale 63 times nibble 15).
var rawScales = map[tensor.Type][]rawScale{
	tensor.F16:    {{0, 2}},
	tensor.BF16:   {{0, 2}},
	tensor.Q4_1:   {{0, 1.0 / 15}, {2, 1}},
	tensor.Q5_0:   {{0, 2.0 / 16}},
	tensor.Q5_1:   {{0, 1.0 / 31}, {2, 1}},
	tensor.IQ4_NL: {{0, 2.0 / 127}},
	tensor.Q4_K:   {{0, 1.0 / (63 * 15)}, {2, 1.0 / 63}},
	tensor.Q5_K:   {{0, 1.0 / (63 * 31)}, {2, 1.0 / 63}},
	tensor.Q6_K:   {{208, 2.0 / (128 * 32)}},
}

// rawRandom returns n*k values of type t as GGUF bytes: random quant
// bytes (every nibble, int8 and 6-bit scale) and random finite f16 fields
// of both signs, within rawScales' bounds when bounded (for matmulTol),
// anything finite otherwise; the first three blocks' fields are a
// subnormal, a negative subnormal and -0.
func rawRandom(g seeded, t tensor.Type, n, k int, bounded bool) []byte {
	size, _ := t.RowBytes(n * k) // n*k is whole blocks in every caller
	raw := make([]byte, size)
	for i := range raw {
		raw[i] = byte(g.r.Uint32())
	}
	bb := t.BlockBytes()
	for b := 0; b < size/bb; b++ {
		for _, s := range rawScales[t] {
			binary.LittleEndian.PutUint16(raw[b*bb+s.off:], rawHalf(g, t, b, s.bound, bounded))
		}
	}
	return raw
}

// rawHalf returns the bits of the f16 (bf16 for BF16) field of block b.
func rawHalf(g seeded, t tensor.Type, b int, bound float32, bounded bool) uint16 {
	special := [3]uint16{0x0001, 0x83ff, 0x8000}
	if t == tensor.BF16 {
		special[1] = 0x807f
	}
	switch {
	case b < len(special):
		return special[b]
	case bounded && t == tensor.BF16:
		return tensor.F32ToBF16((2*g.r.Float32() - 1) * bound)
	case bounded:
		return tensor.F32ToF16((2*g.r.Float32() - 1) * bound)
	}
	h, exp := uint16(g.r.Uint32()), uint16(0x7c00)
	if t == tensor.BF16 {
		exp = 0x7f80
	}
	if h&exp == exp { // infinity or NaN: clear the exponent's top bit
		h &^= 0x4000
	}
	return h
}

// rawShapes are odd M and N (1s, primes, more than one workgroup's block)
// with K whole blocks of t (any multiple of 4 for F16 and BF16), 256 and
// 512 among them, and one K = 8960 (Qwen2.5-1.5B's MLP) for the loop bound.
func rawShapes(t tensor.Type) []mmShape {
	k := max(4, t.BlockLen())
	return []mmShape{{1, 1, k}, {3, 37, 2 * k}, {37, 257, 3 * k}, {257, 3, k},
		{300, 70, 256}, {130, 140, 512}, {2, 5, 8960}}
}

func checkRawMatMul(d *gpu.Device, t tensor.Type) error {
	mm, err := NewRawMatMul(d, t)
	if err != nil {
		return err
	}
	rec := newRecording(d, "matmul raw "+t.String())
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	shapes := rawShapes(t)
	for i, s := range shapes {
		g := newSeeded(uint64(500 + i))
		x, raw := g.next(s.M*s.K, 2), rawRandom(g, t, s.N, s.K, true)
		w, err := NewRawWeights(d, "w "+s.String(), t, raw, s.N, s.K)
		if err != nil {
			return err
		}
		defer w.Free()
		bx, err := inputBuffer(d, "x "+s.String(), x)
		if err != nil {
			return err
		}
		defer bx.Free()
		y, err := NewGuarded(d, fmt.Sprintf("matmul_raw_%v %v", t, s), s.M*s.N, nil)
		if err != nil {
			return err
		}
		outs = append(outs, y)
		rec.dispatch(mm.Call(y.View, bx, w, s.M))
		wd := make([]float32, s.N*s.K)
		if err := tensor.Decode(t, wd, raw); err != nil {
			return err
		}
		want = append(want, matmulRef(x, wd, s))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i, s := range shapes {
		if err := checkGuardeds(outs[i:i+1], want[i:i+1], matmulTol(s.K)); err != nil {
			return err
		}
	}
	return nil
}

// rawEmbedShapes are n tokens of (V, C) tables, C whole blocks of t.
func rawEmbedShapes(t tensor.Type) []embedShape {
	c, wide := 36, 576 // F16, BF16: any C % 4 == 0
	switch t.BlockLen() {
	case tensor.BlockLen:
		c = 64
	case 256:
		c, wide = 256, 768
	}
	return []embedShape{{1, 3, c}, {7, 257, c}, {37, 50, 2 * c}, {7, 31, wide}, {37, 5, wide}}
}

func checkRawEmbed(d *gpu.Device, t tensor.Type) error {
	e, err := NewRawEmbed(d, t)
	if err != nil {
		return err
	}
	rec := newRecording(d, "embed raw "+t.String())
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range rawEmbedShapes(t) {
		g := newSeeded(uint64(600 + i))
		raw := rawRandom(g, t, s.V, s.C, false)
		ids, rawIDs := embedTokens(g, s.n, s.V)
		w, err := NewRawWeights(d, "table "+s.String(), t, raw, s.V, s.C)
		if err != nil {
			return err
		}
		defer w.Free()
		btok, err := rawTokens(d, "tokens "+s.String(), rawIDs)
		if err != nil {
			return err
		}
		defer btok.Free()
		out, err := NewGuarded(d, fmt.Sprintf("embed_raw_%v %v", t, s), s.n*s.C, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(e.Call(out.View, w, btok, s.n))
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

// checkRawRefuses: raw data of the wrong length, K not whole blocks or not
// a multiple of 4, types without raw kernels, and weights of another type
// are refused.
func checkRawRefuses(d *gpu.Device) error {
	for _, bad := range []struct {
		what string
		t    tensor.Type
		raw  int
		N, K int
	}{
		{"24 bytes of Q5_0 for 32 values", tensor.Q5_0, 24, 1, 32},
		{"21 bytes of Q5_0 for 32 values", tensor.Q5_0, 21, 1, 32},
		{"Q4_K weights with K = 128", tensor.Q4_K, 144, 1, 128},
		{"F16 weights with K = 6", tensor.F16, 12, 1, 6},
		{"Q8_0 weights (packed, not raw)", tensor.Q8_0, 34, 1, 32},
		{"F32 weights", tensor.F32, 128, 1, 32},
	} {
		if w, err := NewRawWeights(d, "w", bad.t, make([]byte, bad.raw), bad.N, bad.K); err == nil {
			w.Free()
			return fmt.Errorf("%s were accepted", bad.what)
		}
	}
	if _, err := NewRawMatMul(d, tensor.Q8_0); err == nil {
		return errors.New("a raw matmul for Q8_0 was built")
	}
	return checkRawWrongType(d)
}

// checkRawWrongType: Q4_K weights are refused by the Q6_K matmul and embed.
func checkRawWrongType(d *gpu.Device) error {
	w, err := NewRawWeights(d, "w", tensor.Q4_K, make([]byte, 144), 1, 256)
	if err != nil {
		return err
	}
	defer w.Free()
	buf, err := d.NewBuffer("buf", 4*256)
	if err != nil {
		return err
	}
	defer buf.Free()
	mm, err := NewRawMatMul(d, tensor.Q6_K)
	if err != nil {
		return err
	}
	if _, err := mm.Call(buf, buf, w, 1); err == nil {
		return errors.New("Q4_K weights were accepted by the Q6_K matmul")
	}
	e, err := NewRawEmbed(d, tensor.Q6_K)
	if err != nil {
		return err
	}
	if _, err := e.Call(buf, w, buf, 1); err == nil {
		return errors.New("a Q4_K table was accepted by the Q6_K embed")
	}
	return nil
}

// rawBenchShape is SmolLM2-135M's MLP up-projection over 256 tokens
// (hidden 576 to 1536); the K-quants need K % 256 == 0 and take its
// down-projection (1536 to 576), the same work.
func rawBenchShape(t tensor.Type) mmShape {
	if t.BlockLen() == 256 {
		return mmShape{256, 576, 1536}
	}
	return mmShape{256, 1536, 576}
}

// rawBenches measure each type; names are matmul_<type>/MxNxK
// (matmul_q4_k/256x576x1536).
func rawBenches() []Bench {
	var benches []Bench
	for _, t := range RawTypes() {
		s := rawBenchShape(t)
		benches = append(benches, Bench{
			Name:  fmt.Sprintf("matmul_%s/%v", strings.ToLower(t.String()), s),
			Flops: 2 * float64(s.M) * float64(s.N) * float64(s.K),
			Setup: func(d *gpu.Device) (func(int) error, error) { return setupRawBench(d, t, s) },
		})
	}
	return benches
}

func setupRawBench(d *gpu.Device, t tensor.Type, s mmShape) (func(int) error, error) {
	mm, err := NewRawMatMul(d, t)
	if err != nil {
		return nil, err
	}
	g := newSeeded(700)
	bx, err := inputBuffer(d, "x", g.next(s.M*s.K, 2))
	if err != nil {
		return nil, err
	}
	w, err := NewRawWeights(d, "w", t, rawRandom(g, t, s.N, s.K, true), s.N, s.K)
	if err != nil {
		return nil, err
	}
	y, err := d.NewBuffer("y", 4*uint64(s.M*s.N))
	if err != nil {
		return nil, err
	}
	c, err := mm.Call(y, bx, w, s.M)
	if err != nil {
		return nil, err
	}
	return repeat(d, c), nil
}
