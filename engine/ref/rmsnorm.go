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
// Twin (not written yet): shaders/rmsnorm_fwd.wgsl.
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
