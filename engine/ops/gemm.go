package ops

import (
	"fmt"
	"math"
	"sync"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// gemmFile is the general f32 GEMM: both transposes, alpha and beta, any
// shape; register-blocked as MatMul's RegisterBlocked variant.
const gemmFile = "gemm_rb.wgsl"

// gemmTiledFile is its workgroup-tiled twin for real GPUs (variant Tiled).
const gemmTiledFile = "gemm_tiled.wgsl"

// accTileSnippet is the register tile of the kernels that load both
// operands themselves (gemm_rb, matmul_quant_rb_bwd, matmul_raw_rb_bwd).
const accTileSnippet = "rb_acc_tile.wgsl"

// aSnippets and bSnippets name the a_block and b_block readers of an f32
// operand: [0] through f32 loads (any row length), [1] through vec4 loads
// (rows a multiple of 4 long). A kernel is built with one of each, so that
// its hot loop has no branch (a uniform branch there halved lavapipe's
// speed).
var (
	aSnippets = [2]string{"rb_a_f32.wgsl", "rb_a_vec4.wgsl"}
	bSnippets = [2]string{"rb_b_f32.wgsl", "rb_b_vec4.wgsl"}
)

// Gemm launches C (M, N) = alpha * op(A) @ op(B) + beta * C in f32, op an
// optional transpose of each operand: the LoRA products of the forward
// and backward passes, and MatMulBackward's dX through f32 weights. It has
// per-adapter variants: RegisterBlocked (no workgroup memory; the fast one
// on CPU adapters), with a kernel per pair of operand readers (vec4 or
// f32 loads), and Tiled (64x64 tiles of C per workgroup staged through
// workgroup memory; for real GPUs), one kernel. Each kernel is built on
// first use, so at program build, not per step; it is safe for concurrent
// use.
type Gemm struct {
	Variant Variant // the kernels Call runs: RegisterBlocked or Tiled

	d     *gpu.Device
	dummy *gpu.Buffer // bound to whichever of an operand's two bindings is not read

	mu      sync.Mutex
	kernels [2][2]*gpu.Kernel // RegisterBlocked's, by a's and b's vec4-ness (0 or 1)
	tiled   *gpu.Kernel       // Tiled's
}

// gemmParams is the Params struct of gemm_rb.wgsl.
type gemmParams struct {
	M, N, K        uint32
	Cols           uint32 // invocations per workgroup along N (see laneSplit)
	ATrans, BTrans uint32 // 1: a is stored (K, M); 1: b is stored (N, K)
	Alpha, Beta    float32
}

// NewGemm prepares a GEMM on d, in the variant BestMatMulVariant picks
// for d's adapter; its kernels follow on first use.
func NewGemm(d *gpu.Device) (*Gemm, error) {
	return NewGemmVariant(d, BestMatMulVariant(d))
}

// NewGemmVariant prepares variant v (RegisterBlocked or Tiled) of the GEMM
// on d, whatever the adapter: for parity cases and comparisons.
func NewGemmVariant(d *gpu.Device, v Variant) (*Gemm, error) {
	if v != RegisterBlocked && v != Tiled {
		return nil, fmt.Errorf("ops: no gemm variant %v", v)
	}
	dummy, err := d.NewBuffer("gemm.dummy", 16)
	if err != nil {
		return nil, err
	}
	return &Gemm{Variant: v, d: d, dummy: dummy}, nil
}

// kernel returns the kernel reading a and b as vec4 (1) or f32 (0),
// building it on first use.
func (g *Gemm) kernel(a, b int) (*gpu.Kernel, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if k := g.kernels[a][b]; k != nil {
		return k, nil
	}
	k, err := g.d.Kernel(gemmFile, []string{accTileSnippet, aSnippets[a], bSnippets[b]},
		gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	g.kernels[a][b] = k
	return k, nil
}

// tiledKernel returns Tiled's kernel, building it on first use.
func (g *Gemm) tiledKernel() (*gpu.Kernel, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tiled != nil {
		return g.tiled, nil
	}
	k, err := g.d.Kernel(gemmTiledFile, nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	g.tiled = k
	return k, nil
}

// prepare builds now the kernel Call runs for operands read as vec4.
func (g *Gemm) prepare() error {
	var err error
	if g.Variant == Tiled {
		_, err = g.tiledKernel()
	} else {
		_, err = g.kernel(1, 1)
	}
	return err
}

// Call returns the dispatch
//
//	c (M, N) = alpha * op(a) @ op(b) + beta * c
//	c[m*N+n] = alpha * (sum over k of op(a)[m][k] * op(b)[k][n]) + beta * c[m*N+n]
//
// with op(a) (M, K) = a stored (M, K), or a^T for a stored (K, M) when
// transA; op(b) (K, N) = b stored (K, N), or b^T for b stored (N, K) when
// transB. All row-major f32. With beta = 0, c is only written (what it
// held, NaN included, does not matter). c must not overlap a or b; a and
// b may be the same buffer.
func (g *Gemm) Call(c, a, b *gpu.Buffer, M, N, K int, transA, transB bool, alpha, beta float32) (*gpu.Call, error) {
	if err := g.check(c, a, b, M, N, K, alpha, beta); err != nil {
		return nil, err
	}
	p := gemmParams{M: uint32(M), N: uint32(N), K: uint32(K),
		ATrans: b2u(transA), BTrans: b2u(transB), Alpha: alpha, Beta: beta}
	if g.Variant == Tiled {
		k, err := g.tiledKernel()
		if err != nil {
			return nil, err
		}
		return k.Call(tiledGrid(M, N), p, a, b, c)
	}
	return g.callRB(c, a, b, p)
}

// check refuses shapes the kernels cannot run, NaN scalars and buffers
// too short for the shape.
func (g *Gemm) check(c, a, b *gpu.Buffer, M, N, K int, alpha, beta float32) error {
	name := gemmFile
	if g.Variant == Tiled {
		name = gemmTiledFile
	}
	if M < 1 || N < 1 || K < 1 || K > MaxReduceLen || M > maxElems/N || M > maxElems/K || N > maxElems/K {
		return fmt.Errorf("ops: %s: shape M=%d N=%d K=%d: need M, N >= 1, 1 <= K <= %d and every matrix under %d elements",
			name, M, N, K, MaxReduceLen, maxElems)
	}
	if math.IsNaN(float64(alpha)) || math.IsNaN(float64(beta)) {
		return fmt.Errorf("ops: %s: alpha %v, beta %v: NaN", name, alpha, beta)
	}
	if err := needFloats(name+" c (M, N)", M*N, c); err != nil {
		return err
	}
	if err := needFloats(name+" a", M*K, a); err != nil {
		return err
	}
	return needFloats(name+" b", K*N, b)
}

// callRB dispatches RegisterBlocked's kernel for p's shape and transposes:
// the stored row lengths pick vec4 or f32 loads per operand.
func (g *Gemm) callRB(c, a, b *gpu.Buffer, p gemmParams) (*gpu.Call, error) {
	M, N, K := int(p.M), int(p.N), int(p.K)
	aRow, bRow := K, N
	if p.ATrans != 0 {
		aRow = M
	}
	if p.BTrans != 0 {
		bRow = K
	}
	av, bv := vec4Rows(aRow), vec4Rows(bRow)
	k, err := g.kernel(av, bv)
	if err != nil {
		return nil, err
	}
	a4, a1 := g.bindings(a, av)
	b4, b1 := g.bindings(b, bv)
	grid, cols := rbGrid(M, N)
	p.Cols = uint32(cols)
	return k.Call(grid, p, a4, a1, b4, b1, c)
}

// vec4Rows is 1 when rows of n floats can be read as vec4, else 0.
func vec4Rows(n int) int {
	if n%4 == 0 {
		return 1
	}
	return 0
}

// bindings returns an operand's vec4 and f32 bindings: x in the one its
// kernel reads, the dummy in the other.
func (g *Gemm) bindings(x *gpu.Buffer, vec4 int) (x4, x1 *gpu.Buffer) {
	if vec4 == 1 {
		return x, g.dummy
	}
	return g.dummy, x
}

// gemmShapes are odd sizes for every transpose: 1s, primes, row lengths
// that are and are not multiples of 4 (which picks vec4 or f32 loads per
// operand), more than one workgroup's block, and the LoRA shapes (rank 8
// against hidden 64 over 300 tokens, both ways) up to K = 1024.
func gemmShapes() []mmShape {
	return []mmShape{
		{1, 1, 1}, {3, 37, 5}, {37, 3, 8}, {5, 4, 12}, {65, 33, 129}, {130, 68, 36},
		{300, 8, 64}, {8, 64, 300}, {64, 8, 300}, {13, 16, 1024}, {256, 8, 576},
	}
}

// gemmTiledShapes are gemmShapes plus the Tiled variant's edges: exactly
// one 64x64 tile of c with K one staging step, one past both with K just
// past one, and a long K (an MLP's 8960) over a narrow c.
func gemmTiledShapes() []mmShape {
	return append(gemmShapes(), mmShape{64, 64, 32}, mmShape{65, 65, 33}, mmShape{2, 70, 8960})
}

// gemmOp names a transpose combination: N (as stored) or T for a, then b.
func gemmOp(transA, transB bool) string {
	return map[bool]string{false: "N", true: "T"}[transA] + map[bool]string{false: "N", true: "T"}[transB]
}

// gemmCases check each transpose combination of each variant (forced,
// whatever the adapter) against ref.MatMul in float64 on explicitly
// transposed copies, within matmulTol(K): beta 0 over an output of NaN
// (which must not be read) and beta 1 over random values, alternately,
// alpha 1 or 0.75.
func gemmCases() []Case {
	var cases []Case
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		cases = append(cases, Case{
			Name: "gemm/" + gemmOp(tr[0], tr[1]),
			Run:  func(d *gpu.Device) error { return checkGemm(d, RegisterBlocked, tr[0], tr[1], gemmShapes()) },
		})
	}
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		cases = append(cases, Case{
			Name: "gemm/" + gemmOp(tr[0], tr[1]) + "_tiled",
			Run:  func(d *gpu.Device) error { return checkGemm(d, Tiled, tr[0], tr[1], gemmTiledShapes()) },
		})
	}
	return cases
}

// gemmInputs returns seeded a and b in [-2, 2) as stored (a (M, K) or
// (K, M), b (K, N) or (N, K)), and c's initial value: random for beta != 0,
// NaN otherwise.
func gemmInputs(s mmShape, beta float32) (a, b, c []float32) {
	g := newSeeded(uint64(s.M*7919 + s.N*104729 + s.K))
	a, b, c = g.next(s.M*s.K, 2), g.next(s.K*s.N, 2), g.next(s.M*s.N, 2)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	return a, b, c
}

// transposed returns the (cols, rows) transpose of v (rows, cols).
func transposed(v []float32, rows, cols int) []float32 {
	t := make([]float32, len(v))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = v[r*cols+c]
		}
	}
	return t
}

// gemmRef returns alpha * op(a) @ op(b) + beta * c in float64 (c not read
// when beta is 0), rounded to float32.
func gemmRef(a, b, c []float32, s mmShape, transA, transB bool, alpha, beta float32) []float32 {
	if transA { // stored (K, M): make it (M, K)
		a = transposed(a, s.K, s.M)
	}
	if !transB { // stored (K, N): ref.MatMul wants (N, K)
		b = transposed(b, s.K, s.N)
	}
	y := make([]float64, s.M*s.N)
	ref.MatMul(y, widen(a), widen(b), s.M, s.N, s.K)
	out := make([]float32, len(y))
	for i, v := range y {
		v *= float64(alpha)
		if beta != 0 {
			v += float64(beta) * float64(c[i])
		}
		out[i] = float32(v)
	}
	return out
}

// gemmScalars returns shape i's alpha and beta: beta alternates 1, 0.
func gemmScalars(i int) (alpha, beta float32) {
	if i%2 == 0 {
		return 1, 1
	}
	return 0.75, 0
}

func checkGemm(d *gpu.Device, v Variant, transA, transB bool, shapes []mmShape) error {
	g, err := NewGemmVariant(d, v)
	if err != nil {
		return err
	}
	op := gemmOp(transA, transB) + "_" + v.String()
	rec := newRecording(d, "gemm "+op)
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	var want [][]float32
	for i, s := range shapes {
		alpha, beta := gemmScalars(i)
		a, b, c := gemmInputs(s, beta)
		ba, err := inputBuffer(d, "a "+s.String(), a)
		if err != nil {
			return err
		}
		defer ba.Free()
		bb, err := inputBuffer(d, "b "+s.String(), b)
		if err != nil {
			return err
		}
		defer bb.Free()
		out, err := NewGuarded(d, fmt.Sprintf("gemm_%s %v alpha=%v beta=%v", op, s, alpha, beta), s.M*s.N, c)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(g.Call(out.View, ba, bb, s.M, s.N, s.K, transA, transB, alpha, beta))
		want = append(want, gemmRef(a, b, c, s, transA, transB, alpha, beta))
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

func setupGemmBench(d *gpu.Device, s mmShape, transA, transB bool) (func(int) error, error) {
	return setupGemmVariantBench(d, BestMatMulVariant(d), s, transA, transB)
}

// setupGemmVariantBench measures variant v of the Gemm.
func setupGemmVariantBench(d *gpu.Device, v Variant, s mmShape, transA, transB bool) (func(int) error, error) {
	g, err := NewGemmVariant(d, v)
	if err != nil {
		return nil, err
	}
	a, b, _ := gemmInputs(s, 1)
	ba, err := inputBuffer(d, "a", a)
	if err != nil {
		return nil, err
	}
	bb, err := inputBuffer(d, "b", b)
	if err != nil {
		return nil, err
	}
	c, err := d.NewBuffer("c", 4*uint64(s.M*s.N))
	if err != nil {
		return nil, err
	}
	call, err := g.Call(c, ba, bb, s.M, s.N, s.K, transA, transB, 1, 1)
	if err != nil {
		return nil, err
	}
	return repeat(d, call), nil
}
