package ops

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// AdamW launches the optimizer kernels over one flat f32 buffer holding
// every trainable parameter: adamw_step.wgsl (the update) and the two-pass
// global gradient norm and clip factor (grad_norm_partial.wgsl, then
// grad_norm_final.wgsl). The clip factor stays on the GPU, in a small
// buffer the step reads, so a training step needs no readback. The kernels
// are built once, in NewAdamW.
type AdamW struct {
	d                    *gpu.Device
	step, partial, final *gpu.Kernel
}

// adamwWG is const WG of adamw_step.wgsl; the grad-norm kernels share Sum's
// sumWG and chunking (sumMaxPartials).
const adamwWG = 256

// adamwParams is the Params struct of adamw_step.wgsl.
type adamwParams struct {
	N, Row                    uint32
	LR, Beta1, Beta2, Eps, WD float32
	C1, C2                    float32 // 1/(1-Beta1^t), 1/sqrt(1-Beta2^t)
}

// gradNormPartialParams and gradNormFinalParams are the Params structs of
// grad_norm_partial.wgsl and grad_norm_final.wgsl.
type (
	gradNormPartialParams struct{ N, Chunk uint32 }
	gradNormFinalParams   struct {
		Count   uint32
		MaxNorm float32
	}
)

// NewAdamW builds the optimizer kernels on d.
func NewAdamW(d *gpu.Device) (*AdamW, error) {
	step, err := d.Kernel("adamw_step.wgsl", nil,
		gpu.ReadWrite, gpu.Read, gpu.ReadWrite, gpu.ReadWrite, gpu.Read, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	partial, err := d.Kernel("grad_norm_partial.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	final, err := d.Kernel("grad_norm_final.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &AdamW{d: d, step: step, partial: partial, final: final}, nil
}

// AdamWHyper are the hyperparameters of one AdamW step; Step is t, counted
// from 1, for the bias corrections.
type AdamWHyper struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Step                               int
}

// DefaultAdamWHyper is torch.optim.AdamW's default at step 1.
var DefaultAdamWHyper = AdamWHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1}

// AdamWCall is the step dispatch; Set changes its hyperparameters (learning
// rate schedule, step count) between submits without a new bind group.
type AdamWCall struct {
	*gpu.Call
	n, row uint32
}

// Step returns the call for one AdamW step (ref.AdamWStep) over the first n
// values of params, grads, m and v, with the gradients scaled by scale[0]
// (the clip factor Clip writes; upload 1 there when not clipping):
//
//	g = grads[i] * scale[0]; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2
//	params[i] -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * params[i])
//
// updating params, m and v in place. The call starts with
// DefaultAdamWHyper; Set it before each submit.
func (a *AdamW) Step(params, grads, m, v, scale *gpu.Buffer, n int) (*AdamWCall, error) {
	if err := needFloats(a.step.Name, n, params, grads, m, v); err != nil {
		return nil, err
	}
	if err := needFloats(a.step.Name, 1, scale); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(a.d, n, adamwWG)
	if err != nil {
		return nil, err
	}
	c := &AdamWCall{n: uint32(n), row: row}
	p, err := c.params(DefaultAdamWHyper)
	if err != nil {
		return nil, err
	}
	c.Call, err = a.step.Call(grid, p, params, grads, m, v, scale)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Set makes the next submits of the step use h.
func (c *AdamWCall) Set(h AdamWHyper) error {
	p, err := c.params(h)
	if err != nil {
		return err
	}
	return c.SetParams(p)
}

// params works out the bias corrections of step h.Step in float64.
func (c *AdamWCall) params(h AdamWHyper) (adamwParams, error) {
	if h.Step < 1 || !(h.Beta1 >= 0 && h.Beta1 < 1) || !(h.Beta2 >= 0 && h.Beta2 < 1) || !(h.Eps >= 0) {
		return adamwParams{}, fmt.Errorf("ops: adamw: bad hyperparameters %+v (Step >= 1, betas in [0,1), Eps >= 0)", h)
	}
	t := float64(h.Step)
	return adamwParams{
		N: c.n, Row: c.row,
		LR: h.LR, Beta1: h.Beta1, Beta2: h.Beta2, Eps: h.Eps, WD: h.WeightDecay,
		C1: float32(1 / (1 - math.Pow(float64(h.Beta1), t))),
		C2: float32(1 / math.Sqrt(1-math.Pow(float64(h.Beta2), t))),
	}, nil
}

// clipChunks splits n gradients into count chunks of chunk values (a
// multiple of the workgroup size), as Sum.Call does: at most
// sumMaxPartials chunks, so neither pass loops long.
func clipChunks(n int) (chunk, count int) {
	perInvocation := (n + sumWG*sumMaxPartials - 1) / (sumWG * sumMaxPartials)
	chunk = sumWG * perInvocation
	return chunk, (n + chunk - 1) / chunk
}

// ClipPartials is the number of float32s of the partial buffer that Clip
// needs for n gradients (at most 4096).
func ClipPartials(n int) int {
	_, count := clipChunks(n)
	return count
}

// Clip returns the two dispatches, to record in order before Step, that
// write the global gradient norm of the first n values of grads and its
// clip factor (ref.GradNorm, ref.ClipScale):
//
//	scale[0] = min(1, maxNorm / (norm + 1e-6)), or 1 when maxNorm <= 0
//	scale[1] = norm = sqrt(sum over i of grads[i]^2)
//
// a sum of squares in two passes (no atomics) through partial, a scratch
// buffer of ClipPartials(n) float32s. scale holds two float32s.
func (a *AdamW) Clip(scale, partial, grads *gpu.Buffer, n int, maxNorm float32) ([]*gpu.Call, error) {
	if err := needFloats(a.partial.Name, n, grads); err != nil {
		return nil, err
	}
	chunk, count := clipChunks(n)
	if err := needFloats(a.partial.Name, count, partial); err != nil {
		return nil, err
	}
	if err := needFloats(a.final.Name, 2, scale); err != nil {
		return nil, err
	}
	p, err := a.partial.Call(gpu.Grid{X: uint32(count), Y: 1, Z: 1},
		gradNormPartialParams{N: uint32(n), Chunk: uint32(chunk)}, grads, partial)
	if err != nil {
		return nil, err
	}
	f, err := a.final.Call(gpu.Grid{X: 1, Y: 1, Z: 1},
		gradNormFinalParams{Count: uint32(count), MaxNorm: maxNorm}, partial, scale)
	if err != nil {
		p.Free()
		return nil, err
	}
	return []*gpu.Call{p, f}, nil
}

// Parity cases.

// trainOpCases lists the parity checks of the training kernels: attention
// backward and the optimizer.
func trainOpCases() []Case {
	return append(attentionTrainCases(), adamwCases()...)
}

// adamwCase is one optimizer check: n parameters, steps steps, clipping at
// maxNorm (0: Clip runs but writes 1; clip false: no Clip, scale stays 1).
type adamwCase struct {
	n       int
	maxNorm float32
	wd      float32
	clip    bool
}

// adamwParamTol holds params after each step against the float64 ref run
// from the same start: params lie in about [-1, 1] and the GPU rounds them
// to f32 every step (measured: at most 1.2e-7 after 3 steps).
var adamwParamTol = Tol{Abs: 1e-7, Rel: 1e-6}

// adamwMomentTol holds m or v (want) within 1e-6 of its largest value plus
// 2e-6 relative: moments that cancel to near zero have absolute, not
// relative, f32 errors, and clipping shrinks m and v by ~1e-3 and ~1e-6, so
// a fixed Abs would mean nothing there (measured: at most 6e-8 on m of up
// to 0.54, 1.9e-9 on v of up to 0.012).
func adamwMomentTol(want []float32) Tol {
	var big float64
	for _, w := range want {
		big = max(big, math.Abs(float64(w)))
	}
	return Tol{Abs: 1e-6 * big, Rel: 2e-6}
}

// gradNormTol holds [clip, norm]: an f32 tree sum of squares (no
// cancellation) and a sqrt (measured: at most 1.1e-7 relative at n = 1e6).
var gradNormTol = Tol{Rel: 1e-5}

// adamwSteps is the number of consecutive steps each case runs and checks.
const adamwSteps = 3

// adamwCases check several consecutive AdamW steps (a new gradient and
// learning rate each step, the same recorded program replayed) against
// ref.AdamWStep in float64, with clipping on (maxNorm below the norm), off
// (maxNorm 0, or above the norm, or no Clip at all) and weight decay on and
// off, on odd and large n.
func adamwCases() []Case {
	cases := []struct {
		name string
		c    adamwCase
	}{
		{"n=1/clip", adamwCase{n: 1, maxNorm: 0.5, wd: 0.01, clip: true}},
		{"n=37/no-clip-no-wd", adamwCase{n: 37, maxNorm: 0, wd: 0, clip: true}},
		{"n=4099/wd-max-above-norm", adamwCase{n: 4099, maxNorm: 1e6, wd: 0.1, clip: true}},
		{"n=4099/clip-no-wd", adamwCase{n: 4099, maxNorm: 1, wd: 0, clip: true}},
		{"n=1000003/clip-wd", adamwCase{n: 1000003, maxNorm: 1, wd: 0.1, clip: true}},
		{"n=1000000/no-clip-call", adamwCase{n: 1000000, wd: 0.01}},
	}
	var out []Case
	for _, c := range cases {
		out = append(out, Case{"adamw/" + c.name, func(d *gpu.Device) error { return checkAdamW(d, c.c) }})
	}
	return out
}

func checkAdamW(d *gpu.Device, c adamwCase) error {
	a, err := NewAdamW(d)
	if err != nil {
		return err
	}
	n := c.n
	g := newSeeded(uint64(300 + n))
	p0 := g.next(n, 1)
	label := fmt.Sprintf("adamw n=%d ", n)
	var state []*Guarded
	defer func() { freeGuardeds(state) }()
	for i, init := range [][]float32{p0, nil, nil, {1, 0}} {
		size := n
		if i == 3 {
			size = 2
		}
		s, err := NewGuarded(d, label+[]string{"params", "m", "v", "scale"}[i], size, init)
		if err != nil {
			return err
		}
		state = append(state, s)
	}
	params, m, v, scale := state[0].View, state[1].View, state[2].View, state[3].View
	grads, err := d.NewBuffer(label+"grads", 4*uint64(n))
	if err != nil {
		return err
	}
	defer grads.Free()
	partial, err := d.NewBuffer(label+"partial", 4*uint64(ClipPartials(n)))
	if err != nil {
		return err
	}
	defer partial.Free()

	rec := newRecording(d, "adamw")
	if c.clip {
		calls, err := a.Clip(scale, partial, grads, n, c.maxNorm)
		if err != nil {
			return err
		}
		for _, call := range calls {
			defer call.Free()
			rec.dispatch(call, nil)
		}
	}
	step, err := a.Step(params, grads, m, v, scale, n)
	if err != nil {
		return err
	}
	defer step.Free()
	rec.dispatch(step.Call, nil)

	wp, wm, wv := trainWiden(p0), make([]float64, n), make([]float64, n)
	for t := 1; t <= adamwSteps; t++ {
		gr := g.next(n, 2)
		if err := grads.UploadF32(0, gr); err != nil {
			return err
		}
		h := AdamWHyper{LR: 0.01 * float32(1-0.2*float64(t-1)), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: c.wd, Step: t}
		if err := step.Set(h); err != nil {
			return err
		}
		if err := rec.submit(); err != nil {
			return err
		}
		g64 := trainWiden(gr)
		norm, clip := ref.GradNorm(g64), 1.0
		if c.clip {
			clip = ref.ClipScale(norm, float64(c.maxNorm))
		} else {
			norm = 0 // scale[1] stays as uploaded
		}
		ref.AdamWStep(wp, wm, wv, g64, clip, ref.AdamWHyper{
			LR: float64(h.LR), Beta1: float64(h.Beta1), Beta2: float64(h.Beta2), Eps: float64(h.Eps),
			WeightDecay: float64(h.WeightDecay), Step: t,
		})
		want := [][]float32{trainNarrow(wp), trainNarrow(wm), trainNarrow(wv), {float32(clip), float32(norm)}}
		for i, s := range state {
			got, err := s.Read()
			if err != nil {
				return err
			}
			tol := []Tol{adamwParamTol, adamwMomentTol(want[1]), adamwMomentTol(want[2]), gradNormTol}[i]
			if err := Close(fmt.Sprintf("%s after step %d", s.View.Label, t), got, want[i], tol); err != nil {
				return err
			}
		}
	}
	return nil
}
