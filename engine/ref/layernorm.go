package ref

import "math"

// LayerNormForward normalizes each row of inp to zero mean and unit
// variance, then scales and shifts it (gpt2):
//
//	out[b,t,c] = (inp[b,t,c] - mean[b,t]) * rstd[b,t] * weight[c] + bias[c]
//	mean[b,t]  = mean over c of inp[b,t,c]
//	rstd[b,t]  = 1 / sqrt(mean over c of (inp[b,t,c] - mean[b,t])^2 + eps)
//
// inp and out are (B,T,C), weight and bias are (C); bias may be nil (no
// shift). mean and rstd are (B,T), kept for the backward pass; either may
// be nil when none follows. Statistics and products are taken in float64
// whatever F is (the variance is the biased one, as PyTorch's). out may
// alias inp.
// Twin: shaders/layernorm_fwd.wgsl.
func LayerNormForward[F ~float32 | ~float64](out, mean, rstd, inp, weight, bias []F, B, T, C int, eps float64) {
	for bt := range B * T {
		x := inp[bt*C : (bt+1)*C]
		o := out[bt*C : (bt+1)*C]
		var m float64
		for _, v := range x {
			m += float64(v)
		}
		m /= float64(C)
		var vr float64
		for _, v := range x {
			d := float64(v) - m
			vr += d * d
		}
		s := 1 / math.Sqrt(vr/float64(C)+eps)
		for c, v := range x {
			y := (float64(v) - m) * s * float64(weight[c])
			if bias != nil {
				y += float64(bias[c])
			}
			o[c] = F(y)
		}
		if mean != nil {
			mean[bt] = F(m)
		}
		if rstd != nil {
			rstd[bt] = F(s)
		}
	}
}

// LayerNormBackward is LayerNormForward's backward pass, accumulating. With
// n[c] = (inp[b,t,c] - mean[b,t]) * rstd[b,t] (the normalized row) and
// g = dout[b,t,:] * weight:
//
//	dinp[b,t,c] += rstd[b,t] * (g[c] - mean over c' of g[c'] - n[c] * mean over c' of g[c'] * n[c'])
//	dweight[c]  += sum over b,t of dout[b,t,c] * n[c]
//	dbias[c]    += sum over b,t of dout[b,t,c]
//
// The two means are the paths through mean and rstd, which every input
// moves. Shapes as in LayerNormForward; mean and rstd are the ones it saved.
// Any of dinp, dweight and dbias may be nil when not wanted (dbias when the
// forward had no bias). Sums and products are taken in float64 whatever F
// is. No gradient may alias an input.
// Twin: shaders/layernorm_bwd.wgsl.
func LayerNormBackward[F ~float32 | ~float64](dinp, dweight, dbias, dout, inp, weight, mean, rstd []F, B, T, C int) {
	n := make([]float64, C)
	for bt := range B * T {
		x := inp[bt*C : (bt+1)*C]
		d := dout[bt*C : (bt+1)*C]
		m, s := float64(mean[bt]), float64(rstd[bt])
		var gm, gnm float64 // means over the row of g and of g * n
		for c, v := range x {
			n[c] = (float64(v) - m) * s
			g := float64(d[c]) * float64(weight[c])
			gm += g
			gnm += g * n[c]
		}
		gm /= float64(C)
		gnm /= float64(C)
		for c, dv := range d {
			if dbias != nil {
				dbias[c] += dv
			}
			if dweight != nil {
				dweight[c] += F(float64(dv) * n[c])
			}
			if dinp != nil {
				g := float64(dv) * float64(weight[c])
				dinp[bt*C+c] += F(s * (g - gm - n[c]*gnm))
			}
		}
	}
}
