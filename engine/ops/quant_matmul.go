package ops

import (
	"errors"
	"fmt"
	"strings"

	"webpeft/engine/gpu"
	"webpeft/engine/tensor"
)

// quantMatMulFile is the register-blocked matmul shared by every quantized
// type; the type's snippets (decode, then block loading) are prepended.
const quantMatMulFile = "matmul_quant_rb_fwd.wgsl"

// quantMatMulWideFile is its 16x32-tile twin for large products (bigTiles).
const quantMatMulWideFile = "matmul_quant_rbw_fwd.wgsl"

// quantTiledFile is the workgroup-tiled matmul for real GPUs (variant
// Tiled), shared by every quantized type; the type's snippets (decode, then
// tile staging) are prepended.
const quantTiledFile = "matmul_quant_tiled_fwd.wgsl"

// quantTilePart declares WPart, what every type's staging snippet returns;
// the tiled kernels (forward and dX) include it before that snippet.
const quantTilePart = "quant_tile_part.wgsl"

// quantFiles names, per quantized type, its dequant kernel, the decoder
// snippets every kernel shares, the register-blocked matmul's
// block-loading snippet (quad) and the tiled matmul's staging one (stage).
var quantFiles = map[tensor.QuantType]struct {
	dequant, quad, stage string
	include              []string
}{
	tensor.Q8_0: {"dequant_q8_0.wgsl", "q8_0_rb_quad.wgsl", "q8_0_tile_stage.wgsl", []string{"f16_decode.wgsl", "q8_0_decode.wgsl"}},
	tensor.Q4_0: {"dequant_q4_0.wgsl", "q4_0_rb_quad.wgsl", "q4_0_tile_stage.wgsl", []string{"f16_decode.wgsl", "q4_0_decode.wgsl"}},
}

// QuantWeights is a frozen weight matrix W (N, K) on the GPU, still
// quantized: GGUF blocks repacked into the aligned layout of
// tensor.Packed (quant words in one buffer, f16 scales two per word in
// another). It is never expanded to f32 in GPU memory.
type QuantWeights struct {
	Type   tensor.QuantType
	N, K   int         // rows (output features), columns (input features, a multiple of 32)
	Quants *gpu.Buffer // tensor.Packed.Quants
	Scales *gpu.Buffer // tensor.Packed.Scales
}

// NewQuantWeights repacks raw, the N*K values of a row-major Q8_0 or Q4_0
// GGUF tensor (N rows of K/32 blocks), and uploads it. A matrix larger
// than the device's storage binding must be split by rows by the caller.
func NewQuantWeights(d *gpu.Device, label string, t tensor.QuantType, raw []byte, N, K int) (*QuantWeights, error) {
	if _, ok := quantFiles[t]; !ok {
		return nil, fmt.Errorf("ops: %s: no kernels for %v", label, t)
	}
	if N < 1 || K < 1 || K > MaxMatMulK || N*K > maxElems {
		return nil, fmt.Errorf("ops: %s: shape (%d, %d) outside 1..%d rows of 32..%d columns", label, N, K, maxElems, MaxMatMulK)
	}
	p, err := tensor.Pack(t, raw, N, K)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", label, err)
	}
	q, err := d.NewBuffer(label+".quants", 4*uint64(len(p.Quants)))
	if err != nil {
		return nil, err
	}
	s, err := d.NewBuffer(label+".scales", 4*uint64(len(p.Scales)))
	if err != nil {
		q.Free()
		return nil, err
	}
	w := &QuantWeights{Type: t, N: N, K: K, Quants: q, Scales: s}
	if err := q.UploadU32(0, p.Quants); err != nil {
		w.Free()
		return nil, err
	}
	if err := s.UploadU32(0, p.Scales); err != nil {
		w.Free()
		return nil, err
	}
	return w, nil
}

// Free releases both buffers.
func (w *QuantWeights) Free() {
	w.Quants.Free()
	w.Scales.Free()
}

// QuantMatMul launches y (M, N) = x (M, K) @ dequant(W)^T for quantized
// weights W (N, K) of one type, decoding W inside the kernel, never into
// GPU memory. Like MatMul it has per-adapter variants: RegisterBlocked
// (no workgroup memory; the fast one on CPU adapters) and Tiled (64x64
// tiles of y per workgroup, W decoded while staged in workgroup memory;
// for real GPUs). Its kernels are built once, in NewQuantMatMul.
type QuantMatMul struct {
	Type    tensor.QuantType
	Variant Variant     // the kernel Call runs: RegisterBlocked or Tiled
	kernel  *gpu.Kernel // RegisterBlocked: 16x16 tile per invocation; Tiled: 64x64 per workgroup
	big     *gpu.Kernel // RegisterBlocked's 16x32-tile kernel, for bigTiles shapes
}

// NewQuantMatMul builds the matmul for weights of type t on d, in the
// variant BestMatMulVariant picks for d's adapter.
func NewQuantMatMul(d *gpu.Device, t tensor.QuantType) (*QuantMatMul, error) {
	return NewQuantMatMulVariant(d, t, BestMatMulVariant(d))
}

// NewQuantMatMulVariant builds variant v (RegisterBlocked or Tiled) of the
// matmul for weights of type t on d, whatever the adapter: for parity
// cases and comparisons. Only v's kernels are compiled (a software
// adapter takes seconds per kernel with barriers).
func NewQuantMatMulVariant(d *gpu.Device, t tensor.QuantType, v Variant) (*QuantMatMul, error) {
	f, ok := quantFiles[t]
	if !ok {
		return nil, fmt.Errorf("ops: no quantized matmul for %v", t)
	}
	access := []gpu.Access{gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform}
	q := &QuantMatMul{Type: t, Variant: v}
	var err error
	switch v {
	case RegisterBlocked:
		include := append(append(rbTileSnippet[:len(rbTileSnippet):len(rbTileSnippet)], f.include...), f.quad)
		if q.kernel, err = d.Kernel(quantMatMulFile, include, access...); err != nil {
			return nil, err
		}
		if q.big, err = d.Kernel(quantMatMulWideFile, include, access...); err != nil {
			return nil, err
		}
	case Tiled:
		include := append(f.include[:len(f.include):len(f.include)], quantTilePart, f.stage)
		if q.kernel, err = d.Kernel(quantTiledFile, include, access...); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("ops: no quantized matmul variant %v", v)
	}
	return q, nil
}

// Call returns the dispatch y (M, N) = x (M, K) @ dequant(w)^T with
// (N, K) = (w.N, w.K): y[m*N+n] = sum over k of x[m*K+k] * W[n][k].
func (q *QuantMatMul) Call(y, x *gpu.Buffer, w *QuantWeights, M int) (*gpu.Call, error) {
	if err := q.check(y, x, w, M); err != nil {
		return nil, err
	}
	if q.Variant == Tiled {
		p := matmulParams{M: uint32(M), N: uint32(w.N), K: uint32(w.K)}
		return q.kernel.Call(tiledGrid(M, w.N), p, x, w.Quants, w.Scales, y)
	}
	return q.callRB(y, x, w, M, bigTiles(M, w.N))
}

// check refuses weights of another type, shapes the kernels cannot run
// and buffers too short for the shape.
func (q *QuantMatMul) check(y, x *gpu.Buffer, w *QuantWeights, M int) error {
	name := fmt.Sprintf("%s (%v)", q.kernel.Name, q.Type)
	if w == nil || w.Type != q.Type {
		return fmt.Errorf("ops: %s: weights are not %v", name, q.Type)
	}
	if M < 1 || M*w.N > maxElems || M*w.K > maxElems {
		return fmt.Errorf("ops: %s: M=%d outside 1..%d for N=%d, K=%d", name, M, maxElems, w.N, w.K)
	}
	if err := needFloats(name+" y", M*w.N, y); err != nil {
		return err
	}
	return needFloats(name+" x", M*w.K, x)
}

// callRB dispatches RegisterBlocked's 16x32-tile kernel if big, else its
// 16x16 one (q must be RegisterBlocked).
func (q *QuantMatMul) callRB(y, x *gpu.Buffer, w *QuantWeights, M int, big bool) (*gpu.Call, error) {
	if q.Variant != RegisterBlocked {
		return nil, fmt.Errorf("ops: %s: not the register-blocked variant", q.kernel.Name)
	}
	k, tn := q.kernel, rbTile
	if big {
		k, tn = q.big, rb32
	}
	grid, cols := rbGridTile(M, w.N, rbTile, tn)
	p := matmulParams{M: uint32(M), N: uint32(w.N), K: uint32(w.K), Cols: uint32(cols)}
	return k.Call(grid, p, x, w.Quants, w.Scales, y)
}

// Dequant launches the decoding of quantized weights into f32, through
// the same decode functions as QuantMatMul's kernel. Only the parity
// cases use it, to prove the in-kernel decode bit-exact: the engine never
// expands frozen weights to f32 in GPU memory.
type Dequant struct {
	Type   tensor.QuantType
	d      *gpu.Device
	kernel *gpu.Kernel
}

// dequantParams is the Params struct of dequant_q8_0.wgsl and dequant_q4_0.wgsl.
type dequantParams struct {
	Words uint32 // quant words: N*K/4 (Q8_0) or N*K/8 (Q4_0)
	Row   uint32 // invocations per grid row (see flatGrid)
}

// dequantWG is the workgroup size (const WG) of the dequant kernels.
const dequantWG = 64

// NewDequant builds the dequant kernel for weights of type t on d.
func NewDequant(d *gpu.Device, t tensor.QuantType) (*Dequant, error) {
	f, ok := quantFiles[t]
	if !ok {
		return nil, fmt.Errorf("ops: no dequant kernel for %v", t)
	}
	k, err := d.Kernel(f.dequant, f.include, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Dequant{Type: t, d: d, kernel: k}, nil
}

// Call returns the dispatch out[i] = W[i/K][i%K] for the N*K weights of w
// (tensor.Decode).
func (q *Dequant) Call(out *gpu.Buffer, w *QuantWeights) (*gpu.Call, error) {
	if w == nil || w.Type != q.Type {
		return nil, fmt.Errorf("ops: %s: weights are not %v", q.kernel.Name, q.Type)
	}
	if err := needFloats(q.kernel.Name, w.N*w.K, out); err != nil {
		return nil, err
	}
	words := w.N * w.K / tensor.BlockLen * w.Type.QuantWords()
	grid, row, err := flatGrid(q.d, words, dequantWG)
	if err != nil {
		return nil, err
	}
	return q.kernel.Call(grid, dequantParams{Words: uint32(words), Row: row}, w.Quants, w.Scales, out)
}

// quantTypes are the types with kernels, in case order.
func quantTypes() []tensor.QuantType { return []tensor.QuantType{tensor.Q8_0, tensor.Q4_0} }

// quantMatmulCases check, per type, the dequant kernel against
// tensor.Decode bit for bit (Exact), and the quantized matmul against
// ref.MatMul in float64 on the tensor.Decode'd weights (matmulTol: the
// decoded weights are exact, so only the f32 sums differ).
func quantMatmulCases() []Case {
	var cases []Case
	for _, t := range quantTypes() {
		cases = append(cases,
			Case{fmt.Sprintf("dequant/%v", t), func(d *gpu.Device) error { return checkDequant(d, t) }},
			Case{fmt.Sprintf("matmul/%v", t), func(d *gpu.Device) error { return checkQuantMatMul(d, t, false) }},
			Case{fmt.Sprintf("matmul/%v_wide", t), func(d *gpu.Device) error { return checkQuantMatMul(d, t, true) }},
			Case{fmt.Sprintf("matmul/%v_tiled", t), func(d *gpu.Device) error { return checkQuantTiled(d, t) }},
		)
	}
	return cases
}

// checkQuantRefuses: weights whose K is not whole blocks, raw data of the
// wrong length, and weights of another type are refused.
func checkQuantRefuses(d *gpu.Device) error {
	if w, err := NewQuantWeights(d, "w", tensor.Q8_0, make([]byte, 2*34), 1, 48); err == nil {
		w.Free()
		return errors.New("Q8_0 weights with K = 48 were accepted")
	}
	if w, err := NewQuantWeights(d, "w", tensor.Q4_0, make([]byte, 34), 1, 32); err == nil {
		w.Free()
		return errors.New("34 bytes of Q4_0 blocks for 32 values were accepted")
	}
	w, err := NewQuantWeights(d, "w", tensor.Q4_0, make([]byte, 18), 1, 32)
	if err != nil {
		return err
	}
	defer w.Free()
	dq, err := NewDequant(d, tensor.Q8_0)
	if err != nil {
		return err
	}
	out, err := d.NewBuffer("out", 4*32)
	if err != nil {
		return err
	}
	defer out.Free()
	if _, err := dq.Call(out, w); err == nil {
		return errors.New("Q4_0 weights were accepted by the Q8_0 dequant kernel")
	}
	return nil
}

// randomBlocks returns n*k values of type t as raw GGUF blocks with random
// quant bytes (every nibble and int8, -128 included) and random finite f16
// scales of both signs, the first three a subnormal, a negative subnormal
// and zero.
func randomBlocks(g seeded, t tensor.QuantType, n, k int) []byte {
	size, _ := t.RowBytes(n * k) // n*k is a multiple of 32 in every caller
	raw := make([]byte, size)
	for i := range raw {
		raw[i] = byte(g.r.Uint32())
	}
	bb := t.BlockBytes()
	for b := 0; b < len(raw)/bb; b++ {
		h := uint16(g.r.Uint32())
		if h&0x7c00 == 0x7c00 { // infinity or NaN: make it finite
			h &^= 0x4000
		}
		switch b {
		case 0:
			h = 0x0001
		case 1:
			h = 0x83ff
		case 2:
			h = 0
		}
		raw[b*bb], raw[b*bb+1] = byte(h), byte(h>>8)
	}
	raw[2] = 0x80 // int8 -128 in a Q8_0 block; nibbles 0 and 8 in Q4_0
	return raw
}

func checkDequant(d *gpu.Device, t tensor.QuantType) error {
	dq, err := NewDequant(d, t)
	if err != nil {
		return err
	}
	rec := newRecording(d, "dequant "+t.String())
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for _, s := range []mmShape{{N: 1, K: 32}, {N: 3, K: 64}, {N: 37, K: 96}, {N: 5, K: 288}} {
		raw := randomBlocks(newSeeded(uint64(s.N*s.K)), t, s.N, s.K)
		w, err := NewQuantWeights(d, fmt.Sprintf("w(%d,%d)", s.N, s.K), t, raw, s.N, s.K)
		if err != nil {
			return err
		}
		defer w.Free()
		out, err := NewGuarded(d, fmt.Sprintf("dequant_%v (%d, %d)", t, s.N, s.K), s.N*s.K, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(dq.Call(out.View, w))
		ref := make([]float32, s.N*s.K)
		if err := tensor.Decode(t, ref, raw); err != nil {
			return err
		}
		want = append(want, ref)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, Exact)
}

// quantShapes are odd M and N (1s, primes, more than one workgroup's
// block, LoRA-narrow) with K a multiple of 32.
func quantShapes() []mmShape {
	return []mmShape{{1, 1, 32}, {3, 37, 64}, {37, 257, 96}, {257, 3, 32}, {8, 300, 64}, {300, 70, 128}, {290, 300, 64}}
}

// quantInputs returns seeded x (M, K) in [-2, 2), w (N, K) in [-2, 2)
// quantized to raw GGUF blocks, and w as tensor.Decode decodes it.
func quantInputs(t tensor.QuantType, s mmShape) (x []float32, raw []byte, w []float32, err error) {
	x, w0 := mmInputs(s)
	size, err := t.RowBytes(s.N * s.K)
	if err != nil {
		return nil, nil, nil, err
	}
	raw = make([]byte, size)
	if err := tensor.Quantize(t, raw, w0); err != nil {
		return nil, nil, nil, err
	}
	w = make([]float32, s.N*s.K)
	return x, raw, w, tensor.Decode(t, w, raw)
}

// tiledQuantShapes are the Tiled variant's ragged shapes: 1s (decode's
// M = 1), primes, exactly one 64x64 tile and just past it, several
// workgroups both ways, narrow LoRA-like products, K of one block (one
// staging step) and a real model's longest K (8960, Qwen2's MLP).
func tiledQuantShapes() []mmShape {
	return []mmShape{
		{1, 1, 32}, {1, 300, 96}, {3, 37, 64}, {37, 257, 96}, {257, 3, 32}, {64, 64, 32},
		{65, 127, 160}, {8, 300, 64}, {300, 70, 128}, {290, 300, 64}, {128, 192, 256}, {33, 65, 8960},
	}
}

// checkQuantMatMul checks the 16x16-tile kernel, or with big the 16x32 one
// (which Call runs only for bigTiles shapes), on every quantShapes shape.
func checkQuantMatMul(d *gpu.Device, t tensor.QuantType, big bool) error {
	qm, err := NewQuantMatMulVariant(d, t, RegisterBlocked)
	if err != nil {
		return err
	}
	return checkQuantShapes(d, t, quantShapes(), func(y, x *gpu.Buffer, w *QuantWeights, M int) (*gpu.Call, error) {
		if _, err := qm.Call(y, x, w, M); err != nil { // the checks of a real call
			return nil, err
		}
		return qm.callRB(y, x, w, M, big)
	})
}

// checkQuantTiled checks the Tiled variant, which Call runs on real GPUs,
// on every tiledQuantShapes shape, whatever the adapter.
func checkQuantTiled(d *gpu.Device, t tensor.QuantType) error {
	qm, err := NewQuantMatMulVariant(d, t, Tiled)
	if err != nil {
		return err
	}
	return checkQuantShapes(d, t, tiledQuantShapes(), qm.Call)
}

// checkQuantShapes runs call on every shape in one submit and checks each
// output, in a guard band, against ref.MatMul in float64 on the
// tensor.Decode'd weights within matmulTol(K).
func checkQuantShapes(d *gpu.Device, t tensor.QuantType, shapes []mmShape,
	call func(y, x *gpu.Buffer, w *QuantWeights, M int) (*gpu.Call, error)) error {
	rec := newRecording(d, "matmul "+t.String())
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for _, s := range shapes {
		x, raw, wq, err := quantInputs(t, s)
		if err != nil {
			return err
		}
		bx, err := inputBuffer(d, "x", x)
		if err != nil {
			return err
		}
		defer bx.Free()
		w, err := NewQuantWeights(d, "w", t, raw, s.N, s.K)
		if err != nil {
			return err
		}
		defer w.Free()
		y, err := NewGuarded(d, fmt.Sprintf("matmul_%v %v", t, s), s.M*s.N, nil)
		if err != nil {
			return err
		}
		outs = append(outs, y)
		rec.dispatch(call(y.View, bx, w, s.M))
		want = append(want, matmulRef(x, wq, s))
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

// quantMatmulBenches measure each type at benchShapes; names are
// matmul_<type>/MxNxK (matmul_q8_0/1024x1024x1024).
func quantMatmulBenches() []Bench {
	var benches []Bench
	for _, t := range quantTypes() {
		for _, s := range benchShapes() {
			benches = append(benches, Bench{
				Name:  fmt.Sprintf("matmul_%s/%v", strings.ToLower(t.String()), s),
				Flops: 2 * float64(s.M) * float64(s.N) * float64(s.K),
				Setup: func(d *gpu.Device) (func(int) error, error) { return setupQuantBench(d, t, s) },
			})
		}
	}
	return benches
}

// setupQuantBench measures what QuantMatMul.Call runs on d's adapter (the
// variant BestMatMulVariant picks), as the engine's forward passes do.
func setupQuantBench(d *gpu.Device, t tensor.QuantType, s mmShape) (func(int) error, error) {
	return setupQuantVariantBench(d, t, s, BestMatMulVariant(d))
}

// setupQuantVariantBench measures variant v of the quantized matmul.
func setupQuantVariantBench(d *gpu.Device, t tensor.QuantType, s mmShape, v Variant) (func(int) error, error) {
	qm, err := NewQuantMatMulVariant(d, t, v)
	if err != nil {
		return nil, err
	}
	x, raw, _, err := quantInputs(t, s)
	if err != nil {
		return nil, err
	}
	bx, err := inputBuffer(d, "x", x)
	if err != nil {
		return nil, err
	}
	w, err := NewQuantWeights(d, "w", t, raw, s.N, s.K)
	if err != nil {
		return nil, err
	}
	y, err := d.NewBuffer("y", 4*uint64(s.M*s.N))
	if err != nil {
		return nil, err
	}
	c, err := qm.Call(y, bx, w, s.M)
	if err != nil {
		return nil, err
	}
	return repeat(d, c), nil
}
