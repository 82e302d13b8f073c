package ops

import (
	"fmt"

	"webpeft/engine/gpu"
)

// The flash variant of AttentionTrain: attention_flash_fwd.wgsl,
// attention_flash_dq_bwd.wgsl and attention_flash_dkv_bwd.wgsl. One
// invocation per query row (forward, dq) or key row (dk, dv), keys or
// queries in blocks of 4 with an online softmax: no workgroup memory, no
// barriers, no (T,S) matrix and no limit on S from workgroup memory.
// lavapipe's 65535 loop trips per invocation are kept by splitting the keys
// (forward, dq) or the queries (dk, dv) over several dispatches that carry
// their state in the outputs (flashChunks).

// flashWG is const WG of the flash shaders; flashKB their KB.
const (
	flashWG = 32
	flashKB = 4
)

// FlashFromCPU and FlashFromGPU are AttentionTrain.FlashFrom's defaults:
// the smallest S the flash kernels take on software and on real adapters.
// Measured with BenchmarkAttentionTrain (forward + backward, NH=9, NKV=3,
// HS=64, B=1, T=S):
//   - lavapipe (2 shared cores): flash 9x faster at S=128 and 14x at
//     S=256, so software adapters use it at every length;
//   - NVIDIA H200 (Vulkan): workgroup / flash 1.2 / 2.3 ms at S=128,
//     2.2 / 5.7 at 512, 9.6 / 15.0 at 1024, 30.4 / 29.5 at 2048; flash
//     72 ms at 4096 and 149 ms at 8192, where the workgroup kernels cannot
//     go. So real GPUs switch at 2048.
const (
	FlashFromCPU = 1
	FlashFromGPU = 2048
)

// flashParams is the Params struct of the three flash shaders. For the
// forward Lo, Hi are keys [k0, k1), Flag1 first and Flag2 last; for dq keys
// [k0, k1) and first; for dk, dv queries [t0, t1) and first.
type flashParams struct {
	T, NH, NKV, HS4, Rows uint32
	Scale                 float32
	S, Pos0, RowLen       uint32
	Lo, Hi, First, Last   uint32
}

// useFlash reports whether shape s runs on the flash kernels.
func (a *AttentionTrain) useFlash(s AttnShape) bool {
	return s.HS%4 == 0 && (s.S >= a.FlashFrom || s.S > attnMaxT)
}

// flashSpan is a chunk [lo, hi) of keys or queries.
type flashSpan struct{ lo, hi int }

// flashChunks splits n keys or queries into spans whose loop trips per
// invocation, fixed + ceil(len/KB)*perBlock, stay within budget
// (attnMaxTrips; parity cases lower it to force several chunks).
// perBlock already counts every head a dk/dv invocation walks.
func flashChunks(name string, n, fixed, perBlock, budget int) ([]flashSpan, error) {
	blocks := (budget - fixed) / perBlock
	if blocks < 1 {
		return nil, fmt.Errorf("ops: %s: one block needs %d loop trips, over %d (lavapipe stops at 65535)",
			name, fixed+perBlock, budget)
	}
	step := blocks * flashKB
	var spans []flashSpan
	for lo := 0; lo < n; lo += step {
		spans = append(spans, flashSpan{lo, min(n, lo+step)})
	}
	return spans, nil
}

// flashFwdChunks and flashDQChunks split S keys; flashDKVChunks T queries.
func flashFwdChunks(name string, s AttnShape, budget int) ([]flashSpan, error) {
	hs4 := s.HS / 4
	return flashChunks(name, s.S, 3*hs4+8, 2*hs4+1, budget)
}

func flashDKVChunks(name string, s AttnShape, budget int) ([]flashSpan, error) {
	hs4, group := s.HS/4, s.NH/s.NKV
	return flashChunks(name, s.T, 4*hs4+group+8, group*(2*hs4+1), budget)
}

func flashParamsOf(s AttnShape, rows int, rowLen uint32, sp flashSpan, first, last bool) flashParams {
	b := func(x bool) uint32 {
		if x {
			return 1
		}
		return 0
	}
	p := attnTrainParamsOf(s, rows)
	return flashParams{T: p.T, NH: p.NH, NKV: p.NKV, HS4: p.HS / 4, Rows: p.Rows, Scale: p.Scale, S: p.S, Pos0: p.Pos0,
		RowLen: rowLen, Lo: uint32(sp.lo), Hi: uint32(sp.hi), First: b(first), Last: b(last)}
}

// newFlashKernels builds the flash shaders on d.
func newFlashKernels(d *gpu.Device) (fwd, dq, dkv *gpu.Kernel, err error) {
	fwd, err = d.Kernel("attention_flash_fwd.wgsl", nil,
		gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, nil, nil, err
	}
	dq, err = d.Kernel("attention_flash_dq_bwd.wgsl", nil,
		gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, nil, nil, err
	}
	dkv, err = d.Kernel("attention_flash_dkv_bwd.wgsl", nil,
		gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, nil, nil, err
	}
	return fwd, dq, dkv, nil
}

// flashForward is Forward on the flash kernel: one dispatch per key chunk,
// the running sum of a chunked row kept in a scratch (B,NH,T) buffer the
// calls own.
func (a *AttentionTrain) flashForward(out, lse, q, k, v *gpu.Buffer, s AttnShape) (*AttnCalls, error) {
	name := a.ffwd.Name
	spans, err := flashFwdChunks(name, s, a.tripBudget)
	if err != nil {
		return nil, err
	}
	rows := s.B * s.NH * s.T
	grid, rowLen, err := flatGrid(a.d, rows, flashWG)
	if err != nil {
		return nil, err
	}
	c := &AttnCalls{}
	lsum := a.none
	if len(spans) > 1 {
		if lsum, err = a.d.NewBuffer("attention.lsum", 4*uint64(rows)); err != nil {
			return nil, err
		}
		c.Owned = append(c.Owned, lsum)
	}
	for i, sp := range spans {
		call, err := a.ffwd.Call(grid, flashParamsOf(s, rows, rowLen, sp, i == 0, i == len(spans)-1), q, k, v, out, lse, lsum)
		if err != nil {
			c.Free()
			return nil, err
		}
		c.Calls = append(c.Calls, call)
	}
	return c, nil
}

// flashBackward is Backward on the flash kernels: dq over key chunks (the
// first writes delta and dq, the rest add to dq), then dk, dv over query
// chunks (the first writes, the rest add).
func (a *AttentionTrain) flashBackward(dq, dk, dv, dout, q, k, v, out, lse *gpu.Buffer, s AttnShape) (*AttnCalls, error) {
	name := a.fdq.Name + "+" + a.fdkv.Name
	kspans, err := flashFwdChunks(name, s, a.tripBudget)
	if err != nil {
		return nil, err
	}
	tspans, err := flashDKVChunks(name, s, a.tripBudget)
	if err != nil {
		return nil, err
	}
	qrows, krows := s.B*s.NH*s.T, s.B*s.NKV*s.S
	qgrid, qlen, err := flatGrid(a.d, qrows, flashWG)
	if err != nil {
		return nil, err
	}
	kgrid, klen, err := flatGrid(a.d, krows, flashWG)
	if err != nil {
		return nil, err
	}
	delta, err := a.d.NewBuffer("attention.delta", 4*uint64(qrows))
	if err != nil {
		return nil, err
	}
	c := &AttnCalls{Owned: []*gpu.Buffer{delta}}
	for i, sp := range kspans {
		call, err := a.fdq.Call(qgrid, flashParamsOf(s, qrows, qlen, sp, i == 0, false), dout, q, k, v, out, lse, dq, delta)
		if err != nil {
			c.Free()
			return nil, err
		}
		c.Calls = append(c.Calls, call)
	}
	for i, sp := range tspans {
		call, err := a.fdkv.Call(kgrid, flashParamsOf(s, krows, klen, sp, i == 0, false), dout, q, k, v, lse, delta, dk, dv)
		if err != nil {
			c.Free()
			return nil, err
		}
		c.Calls = append(c.Calls, call)
	}
	return c, nil
}

// checkFlashShape is checkAttnShape for the flash kernels: any S, HS a
// multiple of 4 (vec4 rows) up to 256 (MAXHS4).
func checkFlashShape(name string, s AttnShape) error {
	if s.B <= 0 || s.T <= 0 || s.NH <= 0 || s.NKV <= 0 || s.HS <= 0 || s.NH%s.NKV != 0 {
		return fmt.Errorf("ops: %s: bad shape %v (NH must be a multiple of NKV)", name, s)
	}
	if s.Pos0 < 0 || s.Pos0+s.T > s.S {
		return fmt.Errorf("ops: %s: %v: queries at %d..%d do not fit %d cached positions", name, s, s.Pos0, s.Pos0+s.T-1, s.S)
	}
	if s.HS%4 != 0 || s.HS > attnMaxHS {
		return fmt.Errorf("ops: %s: HS=%d must be a multiple of 4 and at most %d", name, s.HS, attnMaxHS)
	}
	if s.B*s.S > maxElems/s.NH || s.B*s.S*s.NH > maxElems/s.HS || s.B*s.T*s.NH > maxElems/s.HS {
		return fmt.Errorf("ops: %s: %v is too large", name, s)
	}
	return nil
}
