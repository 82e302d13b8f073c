package ref

import "math"

// RMSNormForward normalizes each row of inp by its root mean square and
// scales it by weight (llama, qwen2):
//
//	out[b,t,c] = inp[b,t,c] * rstd[b,t] * weight[c]
//	rstd[b,t]  = 1 / sqrt(mean over c of inp[b,t,c]^2 + eps)
//
// inp and out are (B,T,C), weight is (C), rstd is (B,T) and is kept for the
// backward pass; it may be nil when none follows. The mean of squares and
// the products are taken in float64 whatever F is. out may alias inp.
// Twin: shaders/rmsnorm_fwd.wgsl.
func RMSNormForward[F ~float32 | ~float64](out, rstd, inp, weight []F, B, T, C int, eps float64) {
	for bt := range B * T {
		x := inp[bt*C : (bt+1)*C]
		o := out[bt*C : (bt+1)*C]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		s := 1 / math.Sqrt(ss/float64(C)+eps)
		for c, v := range x {
			o[c] = F(float64(v) * s * float64(weight[c]))
		}
		if rstd != nil {
			rstd[bt] = F(s)
		}
	}
}

// RMSNormBackward is RMSNormForward's backward pass, accumulating. With
// g = dout * weight and s = rstd[b,t] for one row x = inp[b,t,:]:
//
//	dinp[b,t,c] += s * g[c] - s^3 * x[c] * (sum over c' of g[c'] * x[c']) / C
//	dweight[c]  += sum over b,t of dout[b,t,c] * x[c] * s
//
// The second term of dinp is the path through s, which every x[c] moves
// (ds/dx[c] = -s^3 x[c] / C). Shapes as in RMSNormForward; rstd is the
// one it saved. dinp and dweight may each be nil when not wanted (a frozen
// norm gets no dweight). Sums and products are taken in float64 whatever
// F is. No gradient may alias an input.
// Twin: shaders/rmsnorm_bwd.wgsl.
func RMSNormBackward[F ~float32 | ~float64](dinp, dweight, dout, inp, weight, rstd []F, B, T, C int) {
	for bt := range B * T {
		x := inp[bt*C : (bt+1)*C]
		d := dout[bt*C : (bt+1)*C]
		s := float64(rstd[bt])
		if dweight != nil {
			for c, v := range x {
				dweight[c] += F(float64(d[c]) * float64(v) * s)
			}
		}
		if dinp == nil {
			continue
		}
		var gx float64 // sum over c of g[c] * x[c]
		for c, v := range x {
			gx += float64(d[c]) * float64(weight[c]) * float64(v)
		}
		k := s * s * s * gx / float64(C)
		di := dinp[bt*C : (bt+1)*C]
		for c, v := range x {
			di[c] += F(s*float64(d[c])*float64(weight[c]) - k*float64(v))
		}
	}
}
