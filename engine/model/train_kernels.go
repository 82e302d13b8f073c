package model

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/ref"
)

// AdamWHyper are one optimizer step's hyper-parameters (ops.AdamWHyper).
type AdamWHyper = ops.AdamWHyper

// trainKernels are the backward and optimizer pipelines a Trainer adds to
// the model's forward kernels, built once per trainer.
type trainKernels struct {
	g      *GPU
	mmb    *ops.MatMulBackward
	gemm   *ops.Gemm
	colsum *ops.ColSum
	normb  *ops.NormBackward
	actb   *ops.ActivationBackward
	ropeb  *ops.RopeBackward
	vocabb *ops.VocabBackward
	scale  *ops.ScaleCols
	relu   *ops.ReLU
	attn   *ops.AttentionTrain
	adamw  *ops.AdamW
	drop   *ops.Dropout
	extra  []*gpu.Buffer // buffers calls own (attention deltas and running sums)
}

func newTrainKernels(g *GPU) (*trainKernels, error) {
	d := g.d
	if err := g.k.preparePEFT(); err != nil {
		return nil, err
	}
	k := &trainKernels{g: g, gemm: g.k.gemm, scale: g.k.scale, relu: g.k.relu}
	var err error
	steps := []func(){
		func() { k.mmb, err = ops.NewMatMulBackward(d) },
		func() { k.colsum, err = ops.NewColSum(d) },
		func() { k.normb, err = ops.NewNormBackward(d) },
		func() { k.actb, err = ops.NewActivationBackward(d) },
		func() { k.ropeb, err = ops.NewRopeBackward(d) },
		func() { k.vocabb, err = ops.NewVocabBackward(d) },
		func() { k.attn, err = ops.NewAttentionTrain(d) },
		func() { k.adamw, err = ops.NewAdamW(d) },
		func() { k.drop, err = ops.NewDropout(d) },
	}
	for _, s := range steps {
		if s(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// linearBackward returns dx (+)= dy W for a frozen weight of any type.
func (k *trainKernels) linearBackward(dx, dy *gpu.Buffer, w *weight, M int, acc bool) (*gpu.Call, error) {
	switch {
	case w.f32 != nil:
		return k.mmb.F32(dx, dy, w.f32, M, w.N, w.K, acc)
	case w.quant != nil:
		return k.mmb.Quant(dx, dy, w.quant, M, acc)
	default:
		return k.mmb.Raw(dx, dy, w.raw, M, acc)
	}
}

func (k *trainKernels) colSumScratch(rows, cols int) int {
	return max(ops.ColSumScratch(rows, cols), ops.GradScratchFloats(rows, cols, 2))
}

func (k *trainKernels) normScratch(rows, cols int) int { return ops.GradScratchFloats(rows, cols, 2) }

func (k *trainKernels) clipScratch(n int) int { return ops.ClipPartials(n) }

// colSum returns out (+)= the column sums of in (rows, cols).
func (k *trainKernels) colSum(out, scratch, in *gpu.Buffer, rows, cols int, acc bool) ([]*gpu.Call, error) {
	return k.colsum.Call(out, scratch, in, rows, cols, acc)
}

// normBackward returns dinp (+)= the model norm's input gradient (frozen
// weights: no weight gradient).
func (k *trainKernels) normBackward(dinp, dout, inp, w, mean, rstd, scratch *gpu.Buffer, rows, cols int, acc bool) ([]*gpu.Call, error) {
	if k.g.Spec.Norm == LayerNorm {
		return k.normb.LayerNorm(dinp, nil, nil, nil, dout, inp, w, mean, rstd, rows, cols, acc)
	}
	return k.normb.RMSNorm(dinp, nil, nil, dout, inp, w, rstd, rows, cols, acc)
}

func (k *trainKernels) ropeBackward(dinp, dout, pos *gpu.Buffer, B, T, NH, HS int, theta float32, pairs ref.RopePairs) (*gpu.Call, error) {
	return k.ropeb.Call(dinp, dout, pos, B, T, NH, HS, theta, pairs, false)
}

func (k *trainKernels) swigluBackward(dgate, dup, gate, up, dout *gpu.Buffer, n int) (*gpu.Call, error) {
	return k.actb.SwiGLU(dgate, dup, gate, up, dout, n, false)
}

func (k *trainKernels) geluBackward(dinp, inp, dout *gpu.Buffer, n int) (*gpu.Call, error) {
	return k.actb.Gelu(dinp, inp, dout, n, false)
}

// activation returns out = act(inp) for an adapter's "relu" or "gelu".
func (k *trainKernels) activation(act string, out, inp *gpu.Buffer, n int) (*gpu.Call, error) {
	if act == "gelu" {
		return k.g.k.act.Gelu(out, inp, n)
	}
	return k.relu.Forward(out, inp, n)
}

func (k *trainKernels) activationBackward(act string, dinp, inp, dout *gpu.Buffer, n int) (*gpu.Call, error) {
	if act == "gelu" {
		return k.actb.Gelu(dinp, inp, dout, n, false)
	}
	return k.relu.Backward(dinp, inp, dout, n, false)
}

func (k *trainKernels) scaleCols(out, inp, s *gpu.Buffer, rows, cols int) (*gpu.Call, error) {
	return k.scale.Forward(out, inp, s, rows, cols)
}

// scaleColsBackward writes din = dout * s and adds colsum(dout * inp) to
// ds (the gradient buffer accumulates over micro-batches).
func (k *trainKernels) scaleColsBackward(din, ds, dout, inp, s, scratch *gpu.Buffer, rows, cols int) ([]*gpu.Call, error) {
	a, err := k.scale.Backward(din, nil, nil, dout, inp, s, rows, cols, false)
	if err != nil {
		return nil, err
	}
	b, err := k.scale.Backward(nil, ds, scratch, dout, inp, s, rows, cols, true)
	return append(a, b...), err
}

func (k *trainKernels) vocabBackward(dlogits, logits, targets, partials, dloss *gpu.Buffer, rows, cols, col0, chunks int) (*gpu.Call, error) {
	return k.vocabb.Call(dlogits, logits, targets, partials, dloss, rows, cols, col0, chunks)
}

// attnForward returns the attention forward's dispatches (more than one
// for long flash rows); the buffer they may share is freed with the
// trainer.
func (k *trainKernels) attnForward(out, lse, q, kk, v *gpu.Buffer, s ops.AttnShape) ([]*gpu.Call, error) {
	c, err := k.attn.Forward(out, lse, q, kk, v, s)
	if err != nil {
		return nil, err
	}
	k.extra = append(k.extra, c.Owned...)
	return c.Calls, nil
}

// attnBackward returns the attention backward's dispatches; the buffers
// they share are freed with the trainer.
func (k *trainKernels) attnBackward(dq, dk, dv, dout, q, kk, v, out, lse *gpu.Buffer, s ops.AttnShape) ([]*gpu.Call, error) {
	c, err := k.attn.Backward(dq, dk, dv, dout, q, kk, v, out, lse, s)
	if err != nil {
		return nil, err
	}
	k.extra = append(k.extra, c.Owned...)
	return c.Calls, nil
}

func (k *trainKernels) clip(scale, partial, grads *gpu.Buffer, n int, maxNorm float32) ([]*gpu.Call, error) {
	return k.adamw.Clip(scale, partial, grads, n, maxNorm)
}

// adamCall is the AdamW step whose hyper-parameters change per step.
type adamCall struct{ c *ops.AdamWCall }

func (a adamCall) set(h AdamWHyper) error {
	if a.c == nil {
		return fmt.Errorf("model: the trainer has no optimizer step")
	}
	return a.c.Set(h)
}

func (a adamCall) call() *gpu.Call { return a.c.Call }

func (k *trainKernels) adamStep(params, grads, m, v, scale *gpu.Buffer, n int) (adamCall, error) {
	c, err := k.adamw.Step(params, grads, m, v, scale, n)
	return adamCall{c: c}, err
}

func (k *trainKernels) free() {
	for _, b := range k.extra {
		b.Free()
	}
	k.extra = nil
	k.attn.Free()
}
