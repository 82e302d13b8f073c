package ops

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// MLPBlock is one training step of a transformer-MLP block in f32, the
// workload of the TensorFlow.js comparison (serve/testdata/tfjs):
//
//	h = x @ W1          x (M, K), W1 (K, N)   gemm
//	g = gelu(h)                              gelu_fwd (tanh form)
//	y = g @ W2          W2 (N, K)             gemm
//	loss = mean(y^2)                         mul_fwd + sum (read by Loss)
//	dy = 2 y / (M K)                         scale_fwd
//	dW2 = g^T @ dy      (N, K)                gemm, a transposed
//	dg = dy @ W2^T      (M, N)                gemm, b transposed
//	dh = gelu'(h) * dg                       gelu_bwd
//	dW1 = x^T @ dh      (K, N)                gemm, a transposed
//
// Weights are stored as a dense layer's kernel (in, out), as TF.js keeps
// them. Record appends the 11 dispatches to one recorder (one submit).
// Its FLOPs are the five products: 10 M K N.
type MLPBlock struct {
	M, K, N int

	X, W1, W2          *gpu.Buffer // inputs
	H, G, Y, Sq, DY    *gpu.Buffer // activations
	DG, DH, DW1, DW2   *gpu.Buffer // gradients
	LossSum            *gpu.Buffer // one f32: the sum of y^2
	calls              []*gpu.Call
	sum                *SumCalls
	bufs               []*gpu.Buffer
	sumAfter, sumCount int // calls before the sum's two dispatches
}

// NewMLPBlock allocates the block's buffers on d (inputs zero; Upload sets
// them) and builds its step.
func NewMLPBlock(d *gpu.Device, M, K, N int) (*MLPBlock, error) {
	b := &MLPBlock{M: M, K: K, N: N}
	alloc := func(label string, n int) *gpu.Buffer {
		if n < 1 {
			n = 1
		}
		buf, err := d.NewBuffer("mlp_block."+label, 4*uint64(n))
		if err != nil {
			return nil
		}
		b.bufs = append(b.bufs, buf)
		return buf
	}
	b.X, b.W1, b.W2 = alloc("x", M*K), alloc("w1", K*N), alloc("w2", N*K)
	b.H, b.G, b.Y, b.Sq, b.DY = alloc("h", M*N), alloc("g", M*N), alloc("y", M*K), alloc("sq", M*K), alloc("dy", M*K)
	b.DG, b.DH, b.DW1, b.DW2 = alloc("dg", M*N), alloc("dh", M*N), alloc("dw1", K*N), alloc("dw2", N*K)
	b.LossSum = alloc("loss", 1)
	for _, buf := range []*gpu.Buffer{b.X, b.W1, b.W2, b.H, b.G, b.Y, b.Sq, b.DY, b.DG, b.DH, b.DW1, b.DW2, b.LossSum} {
		if buf == nil {
			b.Free()
			return nil, fmt.Errorf("ops: mlp_block %dx%dx%d: cannot allocate its buffers", M, K, N)
		}
	}
	if err := b.build(d); err != nil {
		b.Free()
		return nil, err
	}
	return b, nil
}

func (b *MLPBlock) build(d *gpu.Device) error {
	gm, err := NewGemm(d)
	if err != nil {
		return err
	}
	b.bufs = append(b.bufs, gm.dummy)
	act, err := NewActivation(d)
	if err != nil {
		return err
	}
	actb, err := NewActivationBackward(d)
	if err != nil {
		return err
	}
	el, err := NewElementwise(d)
	if err != nil {
		return err
	}
	sum, err := NewSum(d)
	if err != nil {
		return err
	}
	M, K, N := b.M, b.K, b.N
	var first error
	add := func(c *gpu.Call, err error) {
		if first == nil && err != nil {
			first = err
		}
		if err == nil {
			b.calls = append(b.calls, c)
		}
	}
	add(gm.Call(b.H, b.X, b.W1, M, N, K, false, false, 1, 0))
	add(act.Gelu(b.G, b.H, M*N))
	add(gm.Call(b.Y, b.G, b.W2, M, K, N, false, false, 1, 0))
	add(el.Mul(b.Sq, b.Y, b.Y, M*K))
	b.sumAfter = len(b.calls)
	if first == nil {
		b.sum, first = sum.Call(b.LossSum, b.Sq, M*K)
	}
	add(el.Scale(b.DY, b.Y, float32(2/float64(M*K)), M*K))
	add(gm.Call(b.DW2, b.G, b.DY, N, K, M, true, false, 1, 0))
	add(gm.Call(b.DG, b.DY, b.W2, M, N, K, false, true, 1, 0))
	add(actb.Gelu(b.DH, b.H, b.DG, M*N, false))
	add(gm.Call(b.DW1, b.X, b.DH, K, N, M, true, false, 1, 0))
	return first
}

// Upload sets x (M, K), W1 (K, N) and W2 (N, K).
func (b *MLPBlock) Upload(x, w1, w2 []float32) error {
	if err := b.X.UploadF32(0, x); err != nil {
		return err
	}
	if err := b.W1.UploadF32(0, w1); err != nil {
		return err
	}
	return b.W2.UploadF32(0, w2)
}

// Record appends the step's dispatches to r.
func (b *MLPBlock) Record(r *gpu.Recorder) {
	for i, c := range b.calls {
		if i == b.sumAfter {
			b.sum.Record(r)
		}
		r.Dispatch(c)
	}
}

// Loss reads the step's mean-square loss.
func (b *MLPBlock) Loss() (float64, error) {
	v, err := b.LossSum.ReadF32(1)
	if err != nil {
		return 0, err
	}
	return float64(v[0]) / float64(b.M*b.K), nil
}

// Free releases the block's buffers.
func (b *MLPBlock) Free() {
	if b.sum != nil {
		b.sum.Free()
	}
	for _, buf := range b.bufs {
		if buf != nil {
			buf.Free()
		}
	}
	b.bufs = nil
}

// MLPBlockFlops is the work of one step: the five (M, K, N) products.
func MLPBlockFlops(M, K, N int) float64 { return 10 * float64(M) * float64(K) * float64(N) }

// mlpInputs returns seeded x in [-1, 1), W1 and W2 scaled by 1/sqrt(fan-in).
func mlpInputs(M, K, N int) (x, w1, w2 []float32) {
	g := newSeeded(uint64(M*131 + K*17 + N))
	return g.next(M*K, 1), g.next(K*N, float32(1/math.Sqrt(float64(K)))), g.next(N*K, float32(1/math.Sqrt(float64(N))))
}

// mlpRef is the step in float64 through engine/ref: the loss and the
// weight gradients dW1 (K, N) and dW2 (N, K).
func mlpRef(x, w1, w2 []float32, M, K, N int) (loss float64, dw1, dw2 []float64) {
	xs, w1t, w2t := widen(x), widen(transposed(w1, K, N)), widen(transposed(w2, N, K)) // ref.MatMul takes w as (out, in)
	h := make([]float64, M*N)
	ref.MatMul(h, xs, w1t, M, N, K)
	g := make([]float64, M*N)
	ref.GeluForward(g, h)
	y := make([]float64, M*K)
	ref.MatMul(y, g, w2t, M, K, N)
	dy := make([]float64, M*K)
	for i, v := range y {
		loss += v * v
		dy[i] = 2 * v / float64(M*K)
	}
	loss /= float64(M * K)
	// y = g @ W2: dg = dy @ W2^T, dW2^T (K, N) = dy^T @ g.
	dg, dw2t := make([]float64, M*N), make([]float64, K*N)
	ref.MatMulBackward(dg, dw2t, dy, g, w2t, M, K, N)
	dh := make([]float64, M*N)
	ref.GeluBackward(dh, h, dg)
	dw1t := make([]float64, N*K)
	ref.MatMulBackward(nil, dw1t, dh, xs, w1t, M, N, K)
	return loss, transposed64(dw1t, N, K), transposed64(dw2t, K, N)
}

func transposed64(v []float64, rows, cols int) []float64 {
	t := make([]float64, len(v))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = v[r*cols+c]
		}
	}
	return t
}

// mlpTol bounds a gradient against the float64 ref: every entry is a
// sum of M products (through K or N more), so the bound scales with the
// largest gradient, plus 1e-4 relative.
func mlpTol(want []float64) Tol {
	big := 0.0
	for _, v := range want {
		big = math.Max(big, math.Abs(v))
	}
	return Tol{Abs: 1e-5 * big, Rel: 1e-4}
}

// mlpBlockCases check the whole step (loss, dW1, dW2) against the float64
// CPU reference on odd shapes (rows that are and are not multiples of 4,
// which picks the gemm's vec4 or f32 loads).
func mlpBlockCases() []Case {
	var cases []Case
	for _, s := range [][3]int{{37, 20, 52}, {8, 64, 36}, {5, 3, 7}} {
		cases = append(cases, Case{
			Name: fmt.Sprintf("mlp_block/train_step/%dx%dx%d", s[0], s[1], s[2]),
			Run:  func(d *gpu.Device) error { return checkMLPBlock(d, s[0], s[1], s[2]) },
		})
	}
	return cases
}

func checkMLPBlock(d *gpu.Device, M, K, N int) error {
	b, err := NewMLPBlock(d, M, K, N)
	if err != nil {
		return err
	}
	defer b.Free()
	x, w1, w2 := mlpInputs(M, K, N)
	if err := b.Upload(x, w1, w2); err != nil {
		return err
	}
	r := d.NewRecorder("mlp_block")
	b.Record(r)
	if err := r.Submit(); err != nil {
		return err
	}
	loss, err := b.Loss()
	if err != nil {
		return err
	}
	wantLoss, dw1, dw2 := mlpRef(x, w1, w2, M, K, N)
	if math.Abs(loss-wantLoss) > 1e-4*wantLoss+1e-9 {
		return fmt.Errorf("mlp_block %dx%dx%d: loss %g, want %g", M, K, N, loss, wantLoss)
	}
	for _, g := range []struct {
		name string
		buf  *gpu.Buffer
		want []float64
	}{{"dW1", b.DW1, dw1}, {"dW2", b.DW2, dw2}} {
		got, err := g.buf.ReadF32(len(g.want))
		if err != nil {
			return err
		}
		want := make([]float32, len(g.want))
		for i, v := range g.want {
			want[i] = float32(v)
		}
		if err := Close(fmt.Sprintf("mlp_block %dx%dx%d %s", M, K, N, g.name), got, want, mlpTol(g.want)); err != nil {
			return err
		}
	}
	return nil
}

// mlpBlockBenches measure the step at the SmolLM2-135M MLP shape over 256
// tokens; the name is mlp_block_train/MxKxN.
func mlpBlockBenches() []Bench { return []Bench{MLPBlockBench(256, 576, 1536)} }

// MLPBlockBench measures MLPBlock steps (each iteration one whole step,
// all iterations in one submit), named mlp_block_train/MxKxN; GFLOP/s
// count MLPBlockFlops.
func MLPBlockBench(M, K, N int) Bench {
	return Bench{
		Name:  fmt.Sprintf("mlp_block_train/%dx%dx%d", M, K, N),
		Flops: MLPBlockFlops(M, K, N),
		Setup: func(d *gpu.Device) (func(int) error, error) {
			b, err := NewMLPBlock(d, M, K, N)
			if err != nil {
				return nil, err
			}
			if err := b.Upload(mlpInputs(M, K, N)); err != nil {
				return nil, err
			}
			return func(iters int) error {
				r := d.NewRecorder("mlp_block")
				for range iters {
					b.Record(r)
				}
				if err := r.Submit(); err != nil {
					return err
				}
				return d.Wait()
			}, nil
		},
	}
}
