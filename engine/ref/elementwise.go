package ref

// Add computes out = a + b element by element:
//
//	out[i] = a[i] + b[i] for i < len(out)
//
// Any shape, e.g. a residual stream (B, T, C). a and b hold at least
// len(out) values; out may alias either of them. On float32 values this is
// one correctly rounded IEEE addition, exactly what the GPU computes.
//
// Backward: da[i] += dout[i] and db[i] += dout[i]; the gradient passes
// through unchanged, so it needs no function of its own: Add(da, da, dout)
// (a residual stream's gradient is its dout, shared by both branches).
// Twin: shaders/add_fwd.wgsl (engine/ops.Elementwise.Add).
func Add[F ~float32 | ~float64](out, a, b []F) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// Mul computes out = a * b element by element (the Hadamard product):
//
//	out[i] = a[i] * b[i] for i < len(out)
//
// Any shape, e.g. SwiGLU's silu(gate) * up on (B, T, hidden).
// a and b hold at least len(out) values; out may alias either of them.
// Twin: shaders/mul_fwd.wgsl (engine/ops.Elementwise.Mul).
func Mul[F ~float32 | ~float64](out, a, b []F) {
	for i := range out {
		out[i] = a[i] * b[i]
	}
}

// Scale computes out = s * a:
//
//	out[i] = s * a[i] for i < len(out)
//
// Any shape, e.g. LoRA's alpha/r on its (B, T, C) update. a holds at least
// len(out) values; out may alias it.
//
// Backward, for the constant s this scales by (alpha/r): da[i] += s *
// dout[i], i.e. Scale into a scratch, then Add; no function of its own.
// Twin: shaders/scale_fwd.wgsl (engine/ops.Elementwise.Scale).
func Scale[F ~float32 | ~float64](out, a []F, s F) {
	for i := range out {
		out[i] = s * a[i]
	}
}

// MulBackward is Mul's backward pass, accumulating:
//
//	da[i] += dout[i] * b[i]
//	db[i] += dout[i] * a[i]
//
// for i < len(dout); a and b are the forward's inputs. Either gradient may
// be nil when not wanted. No gradient may alias an input.
// Twin: none yet (no kernel needs mul_bwd).
func MulBackward[F ~float32 | ~float64](da, db, a, b, dout []F) {
	for i, d := range dout {
		if da != nil {
			da[i] += d * b[i]
		}
		if db != nil {
			db[i] += d * a[i]
		}
	}
}

// ScaleColsForward scales every column of inp by its own factor, IA3's
// learned per-feature vector (on keys, values or the FFN activations):
//
//	out[r, c] = inp[r, c] * s[c]
//
// inp and out are (rows, cols), e.g. (B*T, C); s is (cols). out may alias
// inp.
// Twin: shaders/scalecols_fwd.wgsl.
func ScaleColsForward[F ~float32 | ~float64](out, inp, s []F, rows, cols int) {
	for r := range rows {
		Mul(out[r*cols:(r+1)*cols], inp[r*cols:(r+1)*cols], s)
	}
}

// ScaleColsBackward is ScaleColsForward's backward pass, accumulating:
//
//	dinp[r, c] += dout[r, c] * s[c]
//	ds[c]      += sum over r of dout[r, c] * inp[r, c]
//
// Shapes as in ScaleColsForward; ds is the IA3 vector's gradient, summed
// over rows in float64 whatever F is. Either gradient may be nil when not
// wanted. No gradient may alias an input.
// Twin: shaders/scalecols_bwd.wgsl.
func ScaleColsBackward[F ~float32 | ~float64](dinp, ds, dout, inp, s []F, rows, cols int) {
	if dinp != nil {
		for r := range rows {
			MulBackward(dinp[r*cols:(r+1)*cols], nil, inp[r*cols:(r+1)*cols], s, dout[r*cols:(r+1)*cols])
		}
	}
	if ds == nil {
		return
	}
	for c := range cols {
		var sum float64
		for r := range rows {
			sum += float64(dout[r*cols+c]) * float64(inp[r*cols+c])
		}
		ds[c] += F(sum)
	}
}
