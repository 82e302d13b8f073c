package ops

import (
	"fmt"
	"math/bits"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Variant picks one of the f32 matmul kernels.
type Variant int

const (
	// Naive computes one output per invocation: the baseline.
	Naive Variant = iota
	// RegisterBlocked computes a 16x16 tile per invocation in registers from
	// vec4 loads, with no workgroup memory: the fast one on CPU adapters,
	// where loads, not FMAs, cost. Large products (bigTiles) run a 32x32
	// tile per invocation instead, which loads half as much per FMA. Its
	// kernels need K % 4 == 0; for other K the Tiled kernel runs instead.
	RegisterBlocked
	// Tiled stages 64x64 tiles in workgroup memory: for real GPUs.
	Tiled
)

func (v Variant) String() string {
	switch v {
	case Naive:
		return "naive"
	case RegisterBlocked:
		return "rb"
	case Tiled:
		return "tiled"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// matmulFiles names each variant's kernel.
var matmulFiles = map[Variant]string{
	Naive:           "matmul_naive_fwd.wgsl",
	RegisterBlocked: "matmul_f32_rb_fwd.wgsl",
	Tiled:           "matmul_f32_tiled_fwd.wgsl",
}

// matmulRB32File is RegisterBlocked's kernel for large products (bigTiles):
// a 32x32 tile per invocation.
const matmulRB32File = "matmul_f32_rb32_fwd.wgsl"

// rbTileSnippet is the register tile the register-blocked kernels (f32 and
// quantized) share.
var rbTileSnippet = []string{"rb_tile.wgsl"}

// BestMatMulVariant picks the fastest variant for d's adapter: register
// blocking on CPU adapters (lavapipe, SwiftShader; measured there at
// about 20x naive and 5x tiled), workgroup tiling on real GPUs.
func BestMatMulVariant(d *gpu.Device) Variant {
	if d.Info.IsCPU() {
		return RegisterBlocked
	}
	return Tiled
}

// MaxMatMulK bounds K: the kernels loop K (naive), K/4, K/16 or K/32 times,
// and lavapipe silently leaves a loop after 65535 iterations.
const MaxMatMulK = 32768

const (
	rbTile  = 16 // outputs per invocation along M and N (TILE in the rb kernels)
	rb32    = 32 // the same in the rb32 kernels (bigTiles)
	rbWG    = 64 // invocations per workgroup (WG in the rb kernels)
	tiledTS = 64 // outputs per workgroup along M and N (TS in the tiled kernel)
	naiveWG = 16 // workgroup side (WG in the naive kernel)
)

// matmulParams is the Params struct shared by the f32 and quantized matmul
// kernels.
type matmulParams struct {
	M, N, K uint32
	Cols    uint32 // rb kernels: invocations per workgroup along N (see laneSplit)
}

// MatMul launches y (M, N) = x (M, K) @ w^T with w (N, K), all f32 and
// row-major (ref.MatMul). Its kernels are built once, in NewMatMul.
type MatMul struct {
	Variant Variant
	kernel  *gpu.Kernel
	big     *gpu.Kernel // RegisterBlocked's 32x32-tile kernel for bigTiles shapes
	tiled   *gpu.Kernel // RegisterBlocked's fallback for K % 4 != 0
}

// NewMatMul builds the kernel(s) of variant v on d.
func NewMatMul(d *gpu.Device, v Variant) (*MatMul, error) {
	file, ok := matmulFiles[v]
	if !ok {
		return nil, fmt.Errorf("ops: no matmul variant %v", v)
	}
	access := []gpu.Access{gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform}
	var include []string
	if v == RegisterBlocked {
		include = rbTileSnippet
	}
	k, err := d.Kernel(file, include, access...)
	if err != nil {
		return nil, err
	}
	m := &MatMul{Variant: v, kernel: k}
	if v == RegisterBlocked {
		if m.tiled, err = d.Kernel(matmulFiles[Tiled], nil, access...); err != nil {
			return nil, err
		}
		if m.big, err = d.Kernel(matmulRB32File, rbTileSnippet, access...); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Call returns the dispatch y (M, N) = x (M, K) @ w^T, w (N, K): y[m*N+n] =
// sum over k of x[m*K+k] * w[n*K+k]. y must not overlap x or w.
func (m *MatMul) Call(y, x, w *gpu.Buffer, M, N, K int) (*gpu.Call, error) {
	name := "matmul_" + m.Variant.String()
	if err := checkMatMul(name, y, x, w, M, N, K); err != nil {
		return nil, err
	}
	p := matmulParams{M: uint32(M), N: uint32(N), K: uint32(K)}
	switch {
	case m.Variant == Naive:
		return m.kernel.Call(gpu.Grid{X: ceilDiv32(N, naiveWG), Y: ceilDiv32(M, naiveWG), Z: 1}, p, x, w, y)
	case m.Variant == RegisterBlocked && K%4 == 0 && bigTiles(M, N):
		return m.callBig(y, x, w, M, N, K)
	case m.Variant == RegisterBlocked && K%4 == 0:
		grid, cols := rbGrid(M, N)
		p.Cols = uint32(cols)
		return m.kernel.Call(grid, p, x, w, y)
	case m.Variant == RegisterBlocked:
		return m.tiled.Call(tiledGrid(M, N), p, x, w, y)
	default:
		return m.kernel.Call(tiledGrid(M, N), p, x, w, y)
	}
}

// callBig returns RegisterBlocked's dispatch through its 32x32-tile kernel
// (any shape with K % 4 == 0; Call picks it for bigTiles shapes, the
// parity case for odd ones).
func (m *MatMul) callBig(y, x, w *gpu.Buffer, M, N, K int) (*gpu.Call, error) {
	grid, cols := rbGridTile(M, N, rb32, rb32)
	return m.big.Call(grid, matmulParams{M: uint32(M), N: uint32(N), K: uint32(K), Cols: uint32(cols)}, x, w, y)
}

// checkMatMul refuses shapes the kernels cannot run and buffers too short
// for them (WebGPU would clamp the accesses and return garbage instead).
func checkMatMul(name string, y, x, w *gpu.Buffer, M, N, K int) error {
	if M < 1 || N < 1 || K < 1 || K > MaxMatMulK || M*N > maxElems || M*K > maxElems || N*K > maxElems {
		return fmt.Errorf("ops: %s: shape M=%d N=%d K=%d: need M, N >= 1, 1 <= K <= %d and every matrix under %d elements",
			name, M, N, K, MaxMatMulK, maxElems)
	}
	for _, b := range []struct {
		buf  *gpu.Buffer
		n    int
		what string
	}{{y, M * N, "y (M, N)"}, {x, M * K, "x (M, K)"}, {w, N * K, "w (N, K)"}} {
		if b.buf == nil {
			return fmt.Errorf("ops: %s: %s is nil", name, b.what)
		}
		if b.buf.Size < 4*uint64(b.n) {
			return fmt.Errorf("ops: %s: %s buffer %q holds %d float32s, need %d", name, b.what, b.buf.Label, b.buf.Size/4, b.n)
		}
	}
	return nil
}

// rbGrid lays out the register-blocked kernels (f32 and quantized): each
// invocation computes a 16x16 tile, a workgroup cols tiles along N and
// 64/cols along M.
func rbGrid(M, N int) (gpu.Grid, int) { return rbGridTile(M, N, rbTile, rbTile) }

// rbGridTile is rbGrid for kernels whose invocations compute a tm x tn
// block of y (tm rows, tn columns; 16 or 32 each).
func rbGridTile(M, N, tm, tn int) (gpu.Grid, int) {
	cols := laneSplitTile(M, N, tm, tn)
	return gpu.Grid{X: ceilDiv32(N, cols*tn), Y: ceilDiv32(M, rbWG/cols*tm), Z: 1}, cols
}

// bigTiles reports whether a register-blocked product of y (M, N) runs
// the large-tile kernels (matmul_f32_rb32_fwd: 32x32 per invocation,
// matmul_quant_rbw_fwd: 16x32) rather than the 16x16 ones. They load less
// per FMA, which made them 1.3-1.5x the 16x16 kernels on lavapipe at
// 1024^3 and 256x576x1536, but a large tile wastes work where M or N is
// small (decode's M = 1, LoRA ranks) and a shape of fewer than a few
// workgroups leaves a multi-core adapter's threads idle: both M and N
// must fill 4 tiles of 32.
func bigTiles(M, N int) bool { return M >= 4*rb32 && N >= 4*rb32 }

// laneSplit picks how many of a workgroup's 64 invocations run along N (a
// power of two): 8 (a square 128x128 block of y) unless N is too narrow to
// use them, and more when M is too short to use the rest, so that a
// LoRA-shaped product (N or M a rank of 8..64) does not compute mostly
// clamped copies of its edge rows.
func laneSplit(M, N int) int { return laneSplitTile(M, N, rbTile, rbTile) }

// laneSplitTile is laneSplit for tm x tn blocks per invocation.
func laneSplitTile(M, N, tm, tn int) int {
	ln := pow2Ceil(ceilDiv(N, tn)) // lanes that N can use
	lm := pow2Ceil(ceilDiv(M, tm))
	cols := min(8, ln)
	if rbWG/cols > lm {
		cols = min(rbWG/min(lm, rbWG), ln)
	}
	return cols
}

func tiledGrid(M, N int) gpu.Grid {
	return gpu.Grid{X: ceilDiv32(N, tiledTS), Y: ceilDiv32(M, tiledTS), Z: 1}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func ceilDiv32(a, b int) uint32 { return uint32(ceilDiv(a, b)) }

// pow2Ceil returns the smallest power of two >= n (n >= 1).
func pow2Ceil(n int) int { return 1 << bits.Len(uint(n-1)) }

// matmulTol bounds f32 matmul results against the float64 ref: summing K
// products of inputs in [-2, 2] in f32 loses about 6e-8 * K (a random walk
// of roundings, each relative to a partial sum of size ~sqrt(k)); the
// bound allows 16x that, plus 1e-5 relative.
func matmulTol(K int) Tol { return Tol{Abs: 1e-6 * float64(K), Rel: 1e-5} }

// mmShape is one (M, N, K) of a parity case.
type mmShape struct{ M, N, K int }

func (s mmShape) String() string { return fmt.Sprintf("%dx%dx%d", s.M, s.N, s.K) }

// matmulShapes are odd sizes: 1s, primes, more than one workgroup's
// block, narrow LoRA-like products (N or M of 3..8), and K that is and is
// not a multiple of 4 (which sends RegisterBlocked to its fallback).
func matmulShapes() []mmShape {
	return []mmShape{
		{1, 1, 1}, {1, 1, 4}, {3, 37, 5}, {3, 37, 8}, {37, 257, 64}, {37, 257, 67},
		{257, 3, 36}, {8, 300, 40}, {300, 8, 41}, {300, 270, 44}, {65, 33, 129},
	}
}

// matmulCases check every variant against ref.MatMul in float64, all
// shapes of a variant in one submit.
func matmulCases() []Case {
	var cases []Case
	for _, v := range []Variant{Naive, RegisterBlocked, Tiled} {
		cases = append(cases, Case{
			Name: fmt.Sprintf("matmul/f32_%v", v),
			Run:  func(d *gpu.Device) error { return checkMatMul32(d, v, matmulShapes()) },
		})
	}
	cases = append(cases, Case{"matmul/f32_rb32", checkMatMulRB32})
	return append(cases, Case{"matmul/refuses-bad-input", checkMatMulRefuses})
}

// rb32Shapes are odd shapes with K % 4 == 0 for the 32x32-tile kernels,
// which Call sends only bigTiles shapes to: 1s, primes, ragged edges of
// the 32x32 tiles and of the workgroups both ways, narrow products, a
// long K, and a bigTiles shape that takes several workgroups.
func rb32Shapes() []mmShape {
	return []mmShape{
		{1, 1, 4}, {3, 37, 8}, {37, 257, 64}, {257, 3, 36}, {8, 300, 40}, {300, 270, 44},
		{65, 33, 128}, {33, 65, 1028}, {290, 300, 36},
	}
}

// checkMatMulRB32 checks RegisterBlocked's 32x32-tile kernel on every
// rb32Shapes shape against ref.MatMul in float64, within matmulTol(K) as
// the other variants, all shapes in one submit.
func checkMatMulRB32(d *gpu.Device) error {
	mm, err := NewMatMul(d, RegisterBlocked)
	if err != nil {
		return err
	}
	return checkMatMulShapes(d, "matmul_rb32", rb32Shapes(), func(y, x, w *gpu.Buffer, M, N, K int) (*gpu.Call, error) {
		if err := checkMatMul("matmul_rb32", y, x, w, M, N, K); err != nil {
			return nil, err
		}
		return mm.callBig(y, x, w, M, N, K)
	})
}

// checkMatMulRefuses: shapes the kernels cannot run and buffers too short
// for the shape are errors at Call time, not garbage or a GPU fault later.
func checkMatMulRefuses(d *gpu.Device) error {
	mm, err := NewMatMul(d, Naive)
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
		{"y too short", 8, 9, 1},
		{"x too short", 1, 8, 65},
		{"M = 0", 0, 8, 8},
		{"K over MaxMatMulK", 1, 1, MaxMatMulK + 1},
	} {
		if _, err := mm.Call(a, b, c, bad.M, bad.N, bad.K); err == nil {
			return fmt.Errorf("matmul with %s (M=%d N=%d K=%d) was accepted", bad.what, bad.M, bad.N, bad.K)
		}
	}
	return checkQuantRefuses(d)
}

// mmInputs returns seeded x (M, K) and w (N, K) in [-2, 2).
func mmInputs(s mmShape) (x, w []float32) {
	g := newSeeded(uint64(s.M*1000003 + s.N*1009 + s.K))
	return g.next(s.M*s.K, 2), g.next(s.N*s.K, 2)
}

// matmulRef returns ref.MatMul of x and w in float64, rounded to float32.
func matmulRef(x, w []float32, s mmShape) []float32 {
	y := make([]float64, s.M*s.N)
	ref.MatMul(y, widen(x), widen(w), s.M, s.N, s.K)
	out := make([]float32, len(y))
	for i, v := range y {
		out[i] = float32(v)
	}
	return out
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func checkMatMul32(d *gpu.Device, v Variant, shapes []mmShape) error {
	mm, err := NewMatMul(d, v)
	if err != nil {
		return err
	}
	return checkMatMulShapes(d, "matmul_"+v.String(), shapes, mm.Call)
}

// checkMatMulShapes runs call on every shape in one submit and checks each
// output, in a guard band, against ref.MatMul in float64 within
// matmulTol(K).
func checkMatMulShapes(d *gpu.Device, name string, shapes []mmShape, call func(y, x, w *gpu.Buffer, M, N, K int) (*gpu.Call, error)) error {
	rec := newRecording(d, name)
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	for _, s := range shapes {
		x, w := mmInputs(s)
		bx, err := inputBuffer(d, "x", x)
		if err != nil {
			return err
		}
		defer bx.Free()
		bw, err := inputBuffer(d, "w", w)
		if err != nil {
			return err
		}
		defer bw.Free()
		y, err := NewGuarded(d, fmt.Sprintf("%s %v", name, s), s.M*s.N, nil)
		if err != nil {
			return err
		}
		outs = append(outs, y)
		rec.dispatch(call(y.View, bx, bw, s.M, s.N, s.K))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i, s := range shapes {
		x, w := mmInputs(s) // drawn again: cheap, and the host holds one shape at a time
		if err := checkGuardeds(outs[i:i+1], [][]float32{matmulRef(x, w, s)}, matmulTol(s.K)); err != nil {
			return err
		}
	}
	return nil
}

// benchShapes are the two benchmark shapes: a square 1024^3, and a
// SmolLM2-135M MLP up-projection (hidden 576 to 1536) over 256 tokens.
func benchShapes() []mmShape { return []mmShape{{1024, 1024, 1024}, {256, 1536, 576}} }

// matmulBenches measure every f32 variant at benchShapes; names are
// matmul_f32_<variant>/MxNxK.
func matmulBenches() []Bench {
	var benches []Bench
	for _, v := range []Variant{Naive, RegisterBlocked, Tiled} {
		for _, s := range benchShapes() {
			benches = append(benches, Bench{
				Name:  fmt.Sprintf("matmul_f32_%v/%v", v, s),
				Flops: 2 * float64(s.M) * float64(s.N) * float64(s.K),
				Setup: func(d *gpu.Device) (func(int) error, error) { return setupMatMulBench(d, v, s) },
			})
		}
	}
	return benches
}

func setupMatMulBench(d *gpu.Device, v Variant, s mmShape) (func(int) error, error) {
	mm, err := NewMatMul(d, v)
	if err != nil {
		return nil, err
	}
	x, w := mmInputs(s)
	bx, err := inputBuffer(d, "x", x)
	if err != nil {
		return nil, err
	}
	bw, err := inputBuffer(d, "w", w)
	if err != nil {
		return nil, err
	}
	y, err := d.NewBuffer("y", 4*uint64(s.M*s.N))
	if err != nil {
		return nil, err
	}
	c, err := mm.Call(y, bx, bw, s.M, s.N, s.K)
	if err != nil {
		return nil, err
	}
	return repeat(d, c), nil
}

// repeat returns a Bench run function: iters dispatches of c recorded into
// one recorder, one submit, one wait.
func repeat(d *gpu.Device, c *gpu.Call) func(iters int) error {
	return func(iters int) error {
		r := d.NewRecorder(c.Kernel.Name)
		for range iters {
			r.Dispatch(c)
		}
		if err := r.Submit(); err != nil {
			return err
		}
		return d.Wait()
	}
}
