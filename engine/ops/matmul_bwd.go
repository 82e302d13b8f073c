package ops

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
	"webpeft/engine/tensor"
)

// The backward pass of a linear layer y = x @ W^T through FROZEN weights
// needs only dX = dY @ W (ref.MatMulBackward with no dw): W (N, K) in any
// of the forms the forward reads (f32, packed Q8_0/Q4_0, raw GGUF bytes),
// decoded in the kernel as the forward decodes it, never expanded to f32.

// The dX kernels: one per weight layout, with the type's decoder prepended.
// Packed weights also have a workgroup-tiled kernel for real GPUs.
const (
	quantBwdFile      = "matmul_quant_rb_bwd.wgsl"
	quantTiledBwdFile = "matmul_quant_tiled_bwd.wgsl"
	rawBwdFile        = "matmul_raw_rb_bwd.wgsl"
)

// dxSnippets returns the snippets every dX kernel starts with: the
// register tile, dY's reader (vec4 loads when N % 4 == 0, i.e. vec4 is 1,
// else f32 ones) and the dY/dX access.
func dxSnippets(vec4 int) []string {
	return []string{accTileSnippet, aSnippets[vec4], "rb_dx_io.wgsl"}
}

// quantBwdSnippets names, per packed type, the snippets after dxSnippets:
// the forward's decoders, then the row reader (wstrip).
var quantBwdSnippets = map[tensor.Type][]string{
	tensor.Q8_0: {"f16_decode.wgsl", "q8_0_decode.wgsl", "q8_0_dx_strip.wgsl"},
	tensor.Q4_0: {"f16_decode.wgsl", "q4_0_decode.wgsl", "q4_0_dx_strip.wgsl"},
}

// MaxReduceLen bounds the length of the sums of the backward matmuls (N of
// dX, K of Gemm): their loops run ceil(len/4) times (register-blocked, at
// most 50000) or ceil(len/32) times (tiled, with no other loop before the
// stores), and lavapipe silently leaves a shader's loops once one
// invocation has run 65535 iterations of them all. Vocabularies (Qwen2's
// 151936) fit.
const MaxReduceLen = 200000

// MatMulBackward launches dX (M, K) = dY (M, N) @ W (N, K), or dX += that,
// through frozen weights W. Its kernels are built once per weight type, on
// first use (so at program build, not per step) or by Prepare; it is safe
// for concurrent use. Like QuantMatMul, its packed (Q8_0, Q4_0) and f32
// (Gemm) kernels have per-adapter variants: RegisterBlocked (no workgroup
// memory; the fast one on CPU adapters) and Tiled (64x64 tiles of dX per
// workgroup, W decoded while staged in workgroup memory; for real GPUs).
// Raw GGUF weights keep their register-blocked kernels on every adapter.
type MatMulBackward struct {
	Variant Variant // the packed and f32 weights' kernels: RegisterBlocked or Tiled

	d    *gpu.Device
	gemm *Gemm // the f32 weights' kernels; its dummy binds dY's unread binding

	mu      sync.Mutex
	kernels map[dxKey]*gpu.Kernel // quantized and raw types
}

// dxKey names a dX kernel: the weight type, whether dY is read as vec4
// (1: N % 4 == 0) or f32 (0), and whether it is the tiled kernel (which
// reads dY one f32 at a time, so vec4 is 0 there).
type dxKey struct {
	t     tensor.Type
	vec4  int
	tiled bool
}

// dxParams is the Params struct of the dX kernels.
type dxParams struct {
	M, N, K    uint32
	Cols       uint32 // invocations per workgroup along K (see laneSplit)
	Accumulate uint32
}

// NewMatMulBackward prepares the backward matmuls on d, in the variant
// BestMatMulVariant picks for d's adapter; each kernel follows on first
// use (or Prepare).
func NewMatMulBackward(d *gpu.Device) (*MatMulBackward, error) {
	return NewMatMulBackwardVariant(d, BestMatMulVariant(d))
}

// NewMatMulBackwardVariant prepares the backward matmuls on d with
// variant v (RegisterBlocked or Tiled) of the packed weights' kernels,
// whatever the adapter: for parity cases and comparisons.
func NewMatMulBackwardVariant(d *gpu.Device, v Variant) (*MatMulBackward, error) {
	if v != RegisterBlocked && v != Tiled {
		return nil, fmt.Errorf("ops: no backward matmul variant %v", v)
	}
	g, err := NewGemmVariant(d, v)
	if err != nil {
		return nil, err
	}
	return &MatMulBackward{Variant: v, d: d, gemm: g, kernels: map[dxKey]*gpu.Kernel{}}, nil
}

// Prepare builds now (at model load, say) rather than on first use the
// kernels for weights of the given types with N and K multiples of 4
// (every layer of the supported models; an odd N, as GPT-2's vocabulary,
// gets its own kernel on first use).
func (m *MatMulBackward) Prepare(types ...tensor.Type) error {
	for _, t := range types {
		var err error
		switch _, packed := quantBwdSnippets[t]; {
		case t == tensor.F32:
			err = m.gemm.prepare()
		case packed && m.Variant == Tiled:
			_, err = m.tiledKernel(t)
		default:
			_, err = m.kernel(t, 1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// kernel returns the dX kernel for weights of type t, dY read as vec4
// (vec4 = 1) or f32, building it on first use.
func (m *MatMulBackward) kernel(t tensor.Type, vec4 int) (*gpu.Kernel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := dxKey{t: t, vec4: vec4}
	if k, ok := m.kernels[key]; ok {
		return k, nil
	}
	var k *gpu.Kernel
	var err error
	if inc, ok := quantBwdSnippets[t]; ok {
		k, err = m.d.Kernel(quantBwdFile, append(dxSnippets(vec4), inc...),
			gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	} else if _, ok := rawSnippets[t]; ok {
		k, err = m.d.Kernel(rawBwdFile, append(dxSnippets(vec4), rawInclude(t)...),
			gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	} else {
		return nil, fmt.Errorf("ops: no backward matmul for %v weights", t)
	}
	if err != nil {
		return nil, err
	}
	m.kernels[key] = k
	return k, nil
}

// tiledKernel returns the tiled dX kernel for packed weights of type t,
// building it on first use.
func (m *MatMulBackward) tiledKernel(t tensor.Type) (*gpu.Kernel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := dxKey{t: t, tiled: true}
	if k, ok := m.kernels[key]; ok {
		return k, nil
	}
	f, ok := quantFiles[t]
	if !ok {
		return nil, fmt.Errorf("ops: no tiled backward matmul for %v weights", t)
	}
	include := append(f.include[:len(f.include):len(f.include)], quantTilePart, f.stage)
	k, err := m.d.Kernel(quantTiledBwdFile, include, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	m.kernels[key] = k
	return k, nil
}

// F32 returns the dispatch dx (M, K) = dy (M, N) @ w (N, K), or dx += that
// when accumulate, all f32 row-major (ref.MatMulBackward's dx):
//
//	dx[m*K+k] (+)= sum over n of dy[m*N+n] * w[n*K+k]
//
// Without accumulate, what dx held does not matter. dx must not overlap
// dy or w.
func (m *MatMulBackward) F32(dx, dy, w *gpu.Buffer, M, N, K int, accumulate bool) (*gpu.Call, error) {
	if N > MaxReduceLen {
		return nil, fmt.Errorf("ops: matmul backward (F32): N=%d over %d", N, MaxReduceLen)
	}
	return m.gemm.Call(dx, dy, w, M, K, N, false, false, 1, accumulateBeta(accumulate))
}

func accumulateBeta(accumulate bool) float32 {
	if accumulate {
		return 1
	}
	return 0
}

// Quant returns the dispatch dx (M, K) (+)= dy (M, N) @ dequant(w), with
// (N, K) = (w.N, w.K), w packed Q8_0 or Q4_0 and decoded in the kernel:
// dx[m*K+k] (+)= sum over n of dy[m*N+n] * W[n][k].
func (m *MatMulBackward) Quant(dx, dy *gpu.Buffer, w *QuantWeights, M int, accumulate bool) (*gpu.Call, error) {
	if w == nil {
		return nil, errors.New("ops: matmul backward: nil weights")
	}
	if _, ok := quantBwdSnippets[w.Type]; !ok {
		return nil, fmt.Errorf("ops: matmul backward: no kernel for packed %v weights", w.Type)
	}
	if m.Variant == Tiled {
		return m.quantTiled(dx, dy, w, M, accumulate)
	}
	p, grid, err := dxLaunch(quantBwdFile, w.Type, dx, dy, M, w.N, w.K, accumulate)
	if err != nil {
		return nil, err
	}
	k, err := m.kernel(w.Type, vec4Rows(w.N))
	if err != nil {
		return nil, err
	}
	dy4, dy1 := m.gemm.bindings(dy, vec4Rows(w.N))
	return k.Call(grid, p, dy4, dy1, w.Quants, w.Scales, dx)
}

// quantTiled is Quant on the Tiled variant: one 16x16 workgroup per 64x64
// tile of dx.
func (m *MatMulBackward) quantTiled(dx, dy *gpu.Buffer, w *QuantWeights, M int, accumulate bool) (*gpu.Call, error) {
	p, _, err := dxLaunch(quantTiledBwdFile, w.Type, dx, dy, M, w.N, w.K, accumulate)
	if err != nil {
		return nil, err
	}
	k, err := m.tiledKernel(w.Type)
	if err != nil {
		return nil, err
	}
	p.Cols = 0 // the register-blocked kernels' lane split; unused
	return k.Call(tiledGrid(M, w.K), p, dy, w.Quants, w.Scales, dx)
}

// Raw returns the dispatch dx (M, K) (+)= dy (M, N) @ decode(w), with
// (N, K) = (w.N, w.K), w in its GGUF bytes and decoded in the kernel:
// dx[m*K+k] (+)= sum over n of dy[m*N+n] * W[n][k].
func (m *MatMulBackward) Raw(dx, dy *gpu.Buffer, w *RawWeights, M int, accumulate bool) (*gpu.Call, error) {
	if w == nil {
		return nil, errors.New("ops: matmul backward: nil weights")
	}
	if _, ok := rawSnippets[w.Type]; !ok {
		return nil, fmt.Errorf("ops: matmul backward: no kernel for raw %v weights", w.Type)
	}
	p, grid, err := dxLaunch(rawBwdFile, w.Type, dx, dy, M, w.N, w.K, accumulate)
	if err != nil {
		return nil, err
	}
	k, err := m.kernel(w.Type, vec4Rows(w.N))
	if err != nil {
		return nil, err
	}
	dy4, dy1 := m.gemm.bindings(dy, vec4Rows(w.N))
	return k.Call(grid, p, dy4, dy1, w.Buf, dx)
}

// dxLaunch checks a dX launch and lays out its grid: the register tile
// runs over dx (M, K) as the forward's runs over y (M, N).
func dxLaunch(kernel string, t tensor.Type, dx, dy *gpu.Buffer, M, N, K int, accumulate bool) (dxParams, gpu.Grid, error) {
	name := fmt.Sprintf("%s (%v)", kernel, t)
	if M < 1 || N > MaxReduceLen || M > maxElems/N || M > maxElems/K {
		return dxParams{}, gpu.Grid{}, fmt.Errorf("ops: %s: M=%d, N=%d, K=%d: need 1 <= M, N <= %d and dy, dx under %d elements",
			name, M, N, K, MaxReduceLen, maxElems)
	}
	if err := needFloats(name+" dx (M, K)", M*K, dx); err != nil {
		return dxParams{}, gpu.Grid{}, err
	}
	if err := needFloats(name+" dy (M, N)", M*N, dy); err != nil {
		return dxParams{}, gpu.Grid{}, err
	}
	grid, cols := rbGrid(M, K)
	return dxParams{M: uint32(M), N: uint32(N), K: uint32(K), Cols: uint32(cols), Accumulate: b2u(accumulate)}, grid, nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// matmulBwdCases check dX through every weight form against
// ref.MatMulBackward (dx only) in float64 on the decoded weights
// (matmulTol(N): the decode is exact, only the f32 sums differ), then the
// Gemm and ColSum cases and the refusals. Shapes alternate overwriting
// (over NaN, which must not be read) and accumulating (over random values).
func matmulBwdCases() []Case {
	cases := []Case{
		{"matmul_bwd/dx_f32", func(d *gpu.Device) error { return checkDxF32(d, RegisterBlocked) }},
		{"matmul_bwd/dx_f32_tiled", func(d *gpu.Device) error { return checkDxF32(d, Tiled) }},
	}
	for _, t := range quantTypes() {
		cases = append(cases,
			Case{fmt.Sprintf("matmul_bwd/dx_%v", t), func(d *gpu.Device) error {
				return checkDxQuant(d, t, RegisterBlocked, dxQuantShapes())
			}},
			Case{fmt.Sprintf("matmul_bwd/dx_%v_tiled", t), func(d *gpu.Device) error {
				return checkDxQuant(d, t, Tiled, dxTiledQuantShapes())
			}})
	}
	for _, t := range RawTypes() {
		cases = append(cases, Case{fmt.Sprintf("matmul_bwd/dx_%v", t), func(d *gpu.Device) error { return checkDxRaw(d, t) }})
	}
	cases = append(cases, Case{"matmul_bwd/refuses-bad-input", checkMatMulBwdRefuses})
	cases = append(cases, gemmCases()...)
	return append(cases, colSumCases()...)
}

// dxF32Shapes (M, N, K) are odd sizes: 1s, primes, N and K that are and
// are not multiples of 4 (dY read as vec4 or not, W likewise), more than
// one workgroup's block, LoRA-narrow ones, and long sums over N (an MLP's
// 8960, GPT-2's vocabulary 50257) for the loop bound.
func dxF32Shapes() []mmShape {
	return []mmShape{
		{1, 1, 1}, {1, 1, 4}, {3, 37, 5}, {3, 36, 8}, {37, 257, 64}, {37, 256, 67},
		{257, 3, 36}, {8, 300, 40}, {300, 8, 41}, {300, 270, 44}, {65, 33, 129},
		{2, 8960, 8}, {3, 50257, 12},
	}
}

// dxQuantShapes are odd M and N with K whole blocks, and long sums over N
// (8960; Qwen2's vocabulary 151936 for the loop bound).
func dxQuantShapes() []mmShape {
	return []mmShape{
		{1, 1, 32}, {3, 37, 64}, {37, 257, 96}, {257, 3, 32}, {8, 300, 64}, {300, 70, 128},
		{130, 36, 544}, {4, 8960, 64}, {5, 151936, 32},
	}
}

// dxTiledQuantShapes are the Tiled variant's ragged shapes (M, N, K): 1s
// (M = 1 as in decoding, N = 1), primes, exactly one 64x64 tile of dx and
// just past it, K whole blocks but not whole tiles (half a tile past K),
// N a multiple of the 32 staged per step and not, several workgroups
// both ways, and long sums over N (an MLP's 8960, a ragged 8961, Qwen2's
// vocabulary 151936 for the loop bound).
func dxTiledQuantShapes() []mmShape {
	return []mmShape{
		{1, 1, 32}, {1, 300, 96}, {3, 37, 64}, {37, 257, 96}, {257, 3, 32}, {64, 64, 64}, {65, 33, 160},
		{8, 1, 544}, {300, 70, 128}, {130, 36, 544}, {129, 97, 192}, {4, 8960, 64}, {67, 8961, 96}, {5, 151936, 32},
	}
}

// dxRawShapes are odd M and K whole blocks of t (K = 8960 among them), N
// a multiple of 4, and a long sum over N = 8960. N not a multiple of 4
// (dY read through f32 loads, a kernel of its own) is tested on F16 and
// Q6_K only, to spare the browser's compiles: the dY reader is the same
// snippet for every type, and the decoders see only whole rows of w.
func dxRawShapes(t tensor.Type) []mmShape {
	k := max(4, t.BlockLen())
	shapes := []mmShape{{1, 4, k}, {3, 36, 2 * k}, {37, 256, 3 * k}, {257, 4, k},
		{300, 72, 256}, {130, 140, 512}, {2, 8, 8960}, {3, 8960, k}}
	if t == tensor.F16 || t == tensor.Q6_K {
		shapes = append(shapes, mmShape{1, 1, k}, mmShape{37, 257, k}, mmShape{3, 8961, k})
	}
	return shapes
}

// dxCase is one dX launch of a parity case: its inputs and its output.
type dxCase struct {
	s          mmShape
	accumulate bool
	dy, init   []float32 // init: what dx holds before (NaN when overwriting)
	out        *Guarded
}

// newDxCase draws dy (M, N) in [-2, 2) and dx's initial value, and makes
// the guarded output; shape i accumulates when i is odd.
func newDxCase(d *gpu.Device, kind string, i int, s mmShape) (*dxCase, error) {
	g := newSeeded(uint64(900 + i + 31*s.N))
	c := &dxCase{s: s, accumulate: i%2 == 1, dy: g.next(s.M*s.N, 2), init: g.next(s.M*s.K, 2)}
	if !c.accumulate {
		for j := range c.init {
			c.init[j] = float32(math.NaN())
		}
	}
	var err error
	c.out, err = NewGuarded(d, fmt.Sprintf("dx_%s %v accumulate=%v", kind, s, c.accumulate), s.M*s.K, c.init)
	return c, err
}

// want returns ref.MatMulBackward's dx for weights w (N, K) in float64,
// from zero or from init when accumulating, rounded to float32.
func (c *dxCase) want(w []float32) []float32 {
	dx := make([]float64, c.s.M*c.s.K)
	if c.accumulate {
		dx = widen(c.init)
	}
	ref.MatMulBackward(dx, nil, widen(c.dy), nil, widen(w), c.s.M, c.s.N, c.s.K)
	out := make([]float32, len(dx))
	for i, v := range dx {
		out[i] = float32(v)
	}
	return out
}

// checkDx runs one dX case per shape in one submit: each launch builds its
// weights (returning them decoded, and a func freeing them) and its call.
func checkDx(d *gpu.Device, kind string, shapes []mmShape,
	launch func(c *dxCase, dy *gpu.Buffer) (w []float32, free func(), call *gpu.Call, err error)) error {
	rec := newRecording(d, "dx "+kind)
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		c, err := newDxCase(d, kind, i, s)
		if err != nil {
			return err
		}
		outs = append(outs, c.out)
		bdy, err := inputBuffer(d, "dy "+s.String(), c.dy)
		if err != nil {
			return err
		}
		defer bdy.Free()
		w, free, call, err := launch(c, bdy)
		if free != nil {
			defer free()
		}
		rec.dispatch(call, err)
		if rec.err != nil {
			return rec.err
		}
		want = append(want, c.want(w))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i, s := range shapes {
		if err := checkGuardeds(outs[i:i+1], want[i:i+1], matmulTol(s.N)); err != nil {
			return err
		}
	}
	return nil
}

// checkDxF32 checks dX through f32 weights on variant v of the Gemm,
// whatever the adapter.
func checkDxF32(d *gpu.Device, v Variant) error {
	mb, err := NewMatMulBackwardVariant(d, v)
	if err != nil {
		return err
	}
	return checkDx(d, "f32_"+v.String(), dxF32Shapes(), func(c *dxCase, dy *gpu.Buffer) ([]float32, func(), *gpu.Call, error) {
		w := newSeeded(uint64(c.s.N*c.s.K)).next(c.s.N*c.s.K, 2)
		bw, err := inputBuffer(d, "w "+c.s.String(), w)
		if err != nil {
			return nil, nil, nil, err
		}
		call, err := mb.F32(c.out.View, dy, bw, c.s.M, c.s.N, c.s.K, c.accumulate)
		return w, bw.Free, call, err
	})
}

// checkDxQuant checks variant v of the packed dX kernels, whatever the
// adapter, on shapes.
func checkDxQuant(d *gpu.Device, t tensor.Type, v Variant, shapes []mmShape) error {
	mb, err := NewMatMulBackwardVariant(d, v)
	if err != nil {
		return err
	}
	return checkDx(d, fmt.Sprintf("%v_%v", t, v), shapes, func(c *dxCase, dy *gpu.Buffer) ([]float32, func(), *gpu.Call, error) {
		_, raw, w, err := quantInputs(t, mmShape{1, c.s.N, c.s.K})
		if err != nil {
			return nil, nil, nil, err
		}
		qw, err := NewQuantWeights(d, "w "+c.s.String(), t, raw, c.s.N, c.s.K)
		if err != nil {
			return nil, nil, nil, err
		}
		call, err := mb.Quant(c.out.View, dy, qw, c.s.M, c.accumulate)
		return w, qw.Free, call, err
	})
}

func checkDxRaw(d *gpu.Device, t tensor.Type) error {
	mb, err := NewMatMulBackward(d)
	if err != nil {
		return err
	}
	return checkDx(d, t.String(), dxRawShapes(t), func(c *dxCase, dy *gpu.Buffer) ([]float32, func(), *gpu.Call, error) {
		raw := rawRandom(newSeeded(uint64(c.s.N+c.s.K)), t, c.s.N, c.s.K, true)
		rw, err := NewRawWeights(d, "w "+c.s.String(), t, raw, c.s.N, c.s.K)
		if err != nil {
			return nil, nil, nil, err
		}
		w := make([]float32, c.s.N*c.s.K)
		if err := tensor.Decode(t, w, raw); err != nil {
			rw.Free()
			return nil, nil, nil, err
		}
		call, err := mb.Raw(c.out.View, dy, rw, c.s.M, c.accumulate)
		return w, rw.Free, call, err
	})
}

// checkMatMulBwdRefuses: short buffers, sums too long for the loop bound,
// NaN scalars and weights without a kernel are errors at Call time (and
// then the ColSum refusals).
func checkMatMulBwdRefuses(d *gpu.Device) error {
	mb, err := NewMatMulBackward(d)
	if err != nil {
		return err
	}
	a, b, c, err := newBuffers3(d, 64)
	if err != nil {
		return err
	}
	defer a.Free()
	defer b.Free()
	defer c.Free()
	for _, bad := range []struct {
		what    string
		M, N, K int
	}{
		{"dx too short", 8, 1, 9},
		{"dy too short", 8, 9, 1},
		{"w too short", 1, 8, 9},
		{"M = 0", 0, 8, 8},
		{"N over MaxReduceLen", 1, MaxReduceLen + 1, 1},
	} {
		if _, err := mb.F32(a, b, c, bad.M, bad.N, bad.K, false); err == nil {
			return fmt.Errorf("dx f32 with %s (M=%d N=%d K=%d) was accepted", bad.what, bad.M, bad.N, bad.K)
		}
	}
	if _, err := NewMatMulBackwardVariant(d, Naive); err == nil {
		return errors.New("a naive backward matmul was built")
	}
	if _, err := NewGemmVariant(d, Naive); err == nil {
		return errors.New("a naive gemm was built")
	}
	if err := mb.Prepare(tensor.Type(99)); err == nil {
		return errors.New("Prepare for an unknown weight type succeeded")
	}
	q, err := NewQuantWeights(d, "w", tensor.Q8_0, make([]byte, 2*34), 1, 64)
	if err != nil {
		return err
	}
	defer q.Free()
	if _, err := mb.Quant(a, b, q, 2, false); err == nil {
		return errors.New("dx Q8_0 into a dx of 64 values for M=2, K=64 was accepted")
	}
	if _, err := mb.Raw(a, b, &RawWeights{Type: tensor.Q8_0, N: 1, K: 32, Buf: c}, 1, false); err == nil {
		return errors.New("raw Q8_0 weights (packed only) were accepted")
	}
	if _, err := mb.Quant(a, b, &QuantWeights{Type: tensor.Q6_K, N: 1, K: 256, Quants: c, Scales: c}, 1, false); err == nil {
		return errors.New("packed Q6_K weights (raw only) were accepted")
	}
	g, err := NewGemm(d)
	if err != nil {
		return err
	}
	for _, bad := range []struct {
		what    string
		M, N, K int
	}{
		{"c too short", 8, 9, 2},
		{"a too short", 33, 1, 2},
		{"b too short", 1, 33, 2},
		{"K over MaxReduceLen", 1, 1, MaxReduceLen + 1},
	} {
		if _, err := g.Call(a, b, c, bad.M, bad.N, bad.K, true, false, 1, 0); err == nil {
			return fmt.Errorf("gemm with %s (M=%d N=%d K=%d) was accepted", bad.what, bad.M, bad.N, bad.K)
		}
	}
	if _, err := g.Call(a, b, c, 2, 2, 2, false, false, float32(math.NaN()), 0); err == nil {
		return errors.New("gemm with alpha NaN was accepted")
	}
	return checkColSumRefuses(d)
}

// matmulBwdBenches measure dX through f32, Q8_0 and Q4_0 weights at the
// SmolLM2-135M MLP up-projection's shape over 256 tokens (M=256, N=1536,
// K=576: dY (256, 1536) @ W (1536, 576)), and the Gemm at two LoRA
// products of rank 8 over it: h = x @ A^T (NT, 256x8x576) and
// dA = dh^T @ x (TN, 8x576x256). Names are matmul_bwd_dx_<type>/MxNxK and
// gemm_<op>/MxNxK.
func matmulBwdBenches() []Bench {
	s := mmShape{256, 1536, 576}
	flops := 2 * float64(s.M) * float64(s.N) * float64(s.K)
	var benches []Bench
	for _, t := range []tensor.Type{tensor.F32, tensor.Q8_0, tensor.Q4_0} {
		benches = append(benches, Bench{
			Name:  fmt.Sprintf("matmul_bwd_dx_%s/%v", strings.ToLower(t.String()), s),
			Flops: flops,
			Setup: func(d *gpu.Device) (func(int) error, error) { return setupDxBench(d, t, s) },
		})
	}
	for _, c := range []struct {
		s      mmShape
		ta, tb bool
	}{{mmShape{256, 8, 576}, false, true}, {mmShape{8, 576, 256}, true, false}} {
		benches = append(benches, Bench{
			Name:  fmt.Sprintf("gemm_%s/%v", gemmOp(c.ta, c.tb), c.s),
			Flops: 2 * float64(c.s.M) * float64(c.s.N) * float64(c.s.K),
			Setup: func(d *gpu.Device) (func(int) error, error) { return setupGemmBench(d, c.s, c.ta, c.tb) },
		})
	}
	return benches
}

func setupDxBench(d *gpu.Device, t tensor.Type, s mmShape) (func(int) error, error) {
	return setupDxVariantBench(d, t, BestMatMulVariant(d), s)
}

// setupDxVariantBench measures variant v of dX (+)= dY @ W through weights
// of type t.
func setupDxVariantBench(d *gpu.Device, t tensor.Type, v Variant, s mmShape) (func(int) error, error) {
	mb, err := NewMatMulBackwardVariant(d, v)
	if err != nil {
		return nil, err
	}
	dy, w := newSeeded(1000).next(s.M*s.N, 2), newSeeded(1001).next(s.N*s.K, 2)
	bdy, err := inputBuffer(d, "dy", dy)
	if err != nil {
		return nil, err
	}
	dx, err := d.NewBuffer("dx", 4*uint64(s.M*s.K))
	if err != nil {
		return nil, err
	}
	var c *gpu.Call
	if t == tensor.F32 {
		bw, err := inputBuffer(d, "w", w)
		if err != nil {
			return nil, err
		}
		c, err = mb.F32(dx, bdy, bw, s.M, s.N, s.K, true)
		if err != nil {
			return nil, err
		}
	} else {
		size, _ := t.RowBytes(s.N * s.K)
		raw := make([]byte, size)
		if err := tensor.Quantize(t, raw, w); err != nil {
			return nil, err
		}
		qw, err := NewQuantWeights(d, "w", t, raw, s.N, s.K)
		if err != nil {
			return nil, err
		}
		if c, err = mb.Quant(dx, bdy, qw, s.M, true); err != nil {
			return nil, err
		}
	}
	return repeat(d, c), nil
}
