package ref

import "math"

// AttentionForward is causal scaled dot-product attention with grouped
// query heads: query head h reads key/value head h/(NH/NKV).
//
//	att[b,h,t,s] = softmax over s <= t of q[b,t,h,:] . k[b,s,g,:] / sqrt(HS)
//	out[b,t,h,:] = sum over s <= t of att[b,h,t,s] * v[b,s,g,:]
//
// q and out are (B,T,NH,HS); k and v are (B,T,NKV,HS), NH a multiple of
// NKV. att is (B,NH,T,T), the probabilities kept for the backward pass
// (entries s > t are 0); it may be nil when none follows. Dot products, the
// softmax and the weighted sums are taken in float64 whatever F is. With
// T = 1 out is v (repeated over each group's heads).
// Twin (not written yet): shaders/attention_fwd.wgsl.
func AttentionForward[F ~float32 | ~float64](out, att, q, k, v []F, B, T, NH, NKV, HS int) {
	scale := 1 / math.Sqrt(float64(HS))
	group := NH / NKV
	p := make([]float64, T)
	acc := make([]float64, HS)
	for b := range B {
		for t := range T {
			for h := range NH {
				g := h / group
				qh := q[((b*T+t)*NH+h)*HS:][:HS]
				m := math.Inf(-1)
				for s := 0; s <= t; s++ {
					kh := k[((b*T+s)*NKV+g)*HS:][:HS]
					var d float64
					for i, qv := range qh {
						d += float64(qv) * float64(kh[i])
					}
					p[s] = d * scale
					m = max(m, p[s])
				}
				var sum float64
				for s := 0; s <= t; s++ {
					p[s] = math.Exp(p[s] - m)
					sum += p[s]
				}
				clear(acc)
				for s := 0; s <= t; s++ {
					p[s] /= sum
					vh := v[((b*T+s)*NKV+g)*HS:][:HS]
					for i, vv := range vh {
						acc[i] += p[s] * float64(vv)
					}
				}
				oh := out[((b*T+t)*NH+h)*HS:][:HS]
				for i := range oh {
					oh[i] = F(acc[i])
				}
				if att != nil {
					row := att[((b*NH+h)*T+t)*T:][:T]
					for s := range row {
						row[s] = 0
						if s <= t {
							row[s] = F(p[s])
						}
					}
				}
			}
		}
	}
}
