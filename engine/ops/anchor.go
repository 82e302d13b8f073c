package ops

import (
	"fmt"

	"webpeft/engine/gpu"
)

// anchorFile is the benchmark yardstick: a straightforward register-blocked
// f32 matmul (8x16 outputs per invocation straight from storage, 8x8
// workgroups, no workgroup memory). The engine never runs it; the
// benchmark suite measures it next to the engine's kernels, in the same
// run, so that their figures can be read as ratios to it on any adapter.
const anchorFile = "matmul_anchor_fwd.wgsl"

const (
	anchorRows = 64  // rows of c per workgroup: 8 invocations x 8 rows
	anchorCols = 128 // columns of c per workgroup: 8 invocations x 16
)

// anchorParams is the Params struct of matmul_anchor_fwd.wgsl.
type anchorParams struct{ M, K, N, Pad uint32 }

// AnchorMatMul launches c (M, N) = a (M, K) @ b (K, N), all f32 row-major
// (ref.MatMul with w = b^T), through the anchor kernel.
type AnchorMatMul struct{ kernel *gpu.Kernel }

// NewAnchorMatMul builds the anchor kernel on d.
func NewAnchorMatMul(d *gpu.Device) (*AnchorMatMul, error) {
	k, err := d.Kernel(anchorFile, nil, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &AnchorMatMul{kernel: k}, nil
}

// Call returns the dispatch c (M, N) = a (M, K) @ b (K, N): c[m*N+n] = sum
// over k of a[m*K+k] * b[k*N+n]. K and N must be multiples of 4.
func (am *AnchorMatMul) Call(c, a, b *gpu.Buffer, M, K, N int) (*gpu.Call, error) {
	if K%4 != 0 || N%4 != 0 {
		return nil, fmt.Errorf("ops: %s: K=%d and N=%d must be multiples of 4", anchorFile, K, N)
	}
	if err := checkMatMul("matmul_anchor", c, a, b, M, N, K); err != nil {
		return nil, err
	}
	grid := gpu.Grid{X: ceilDiv32(N, anchorCols), Y: ceilDiv32(M, anchorRows), Z: 1}
	return am.kernel.Call(grid, anchorParams{M: uint32(M), K: uint32(K), N: uint32(N)}, a, b, c)
}

// anchorShapes are (M, N, K) parity shapes with K and N multiples of 4:
// 1s, primes along M, more than one workgroup's block both ways, ragged
// edges of the 8x16 blocks, and a long K.
func anchorShapes() []mmShape {
	return []mmShape{
		{1, 4, 4}, {3, 36, 8}, {37, 260, 64}, {65, 4, 132}, {300, 132, 44}, {9, 20, 1024}, {130, 136, 12},
	}
}

// anchorCases check the anchor against ref.MatMul in float64 within
// matmulTol(K), like the engine's f32 matmuls; all shapes in one submit.
func anchorCases() []Case {
	return []Case{{Name: "matmul/f32_anchor", Run: func(d *gpu.Device) error { return checkAnchor(d, anchorShapes()) }}}
}

func checkAnchor(d *gpu.Device, shapes []mmShape) error {
	am, err := NewAnchorMatMul(d)
	if err != nil {
		return err
	}
	rec := newRecording(d, "matmul anchor")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	for _, s := range shapes {
		x, w := mmInputs(s) // w is (N, K); the anchor reads b = w^T (K, N)
		ba, err := inputBuffer(d, "a", x)
		if err != nil {
			return err
		}
		defer ba.Free()
		bb, err := inputBuffer(d, "b", transposed(w, s.N, s.K))
		if err != nil {
			return err
		}
		defer bb.Free()
		y, err := NewGuarded(d, fmt.Sprintf("matmul_anchor %v", s), s.M*s.N, nil)
		if err != nil {
			return err
		}
		outs = append(outs, y)
		rec.dispatch(am.Call(y.View, ba, bb, s.M, s.K, s.N))
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i, s := range shapes {
		x, w := mmInputs(s)
		if err := checkGuardeds(outs[i:i+1], [][]float32{matmulRef(x, w, s)}, matmulTol(s.K)); err != nil {
			return err
		}
	}
	return nil
}

// anchorBenches measure the anchor at the two standard shapes; names are
// anchor_matmul/MxKxN (anchor_matmul/256x576x1536).
func anchorBenches() []Bench {
	var out []Bench
	for _, s := range benchShapes() {
		out = append(out, AnchorBench(s.M, s.K, s.N))
	}
	return out
}

// AnchorBench measures the anchor kernel on c (M, N) = a (M, K) @ b (K, N),
// named anchor_matmul/MxKxN.
func AnchorBench(M, K, N int) Bench {
	return Bench{
		Name:  fmt.Sprintf("anchor_matmul/%dx%dx%d", M, K, N),
		Flops: 2 * float64(M) * float64(N) * float64(K),
		Setup: func(d *gpu.Device) (func(int) error, error) {
			am, err := NewAnchorMatMul(d)
			if err != nil {
				return nil, err
			}
			s := mmShape{M: M, N: N, K: K}
			x, w := mmInputs(s)
			a, err := inputBuffer(d, "a", x)
			if err != nil {
				return nil, err
			}
			b, err := inputBuffer(d, "b", w) // values do not matter here; (N, K) read as (K, N)
			if err != nil {
				return nil, err
			}
			c, err := d.NewBuffer("c", 4*uint64(M*N))
			if err != nil {
				return nil, err
			}
			call, err := am.Call(c, a, b, M, K, N)
			if err != nil {
				return nil, err
			}
			return repeat(d, call), nil
		},
	}
}
