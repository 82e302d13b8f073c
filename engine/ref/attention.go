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
// Twin: shaders/attention_fwd.wgsl.
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

// AttentionBackward is AttentionForward's backward pass, accumulating.
// With g = h/(NH/NKV), P = att (the saved probabilities) and dP the
// gradient of the probabilities:
//
//	dP[b,h,t,s]   = dout[b,t,h,:] . v[b,s,g,:]
//	dS[b,h,t,s]   = P[b,h,t,s] * (dP[b,h,t,s] - sum over s' <= t of P[b,h,t,s'] * dP[b,h,t,s']) / sqrt(HS)
//	dq[b,t,h,:]  += sum over s <= t of dS[b,h,t,s] * k[b,s,g,:]
//	dk[b,s,g,:]  += sum over heads h of group g, t >= s, of dS[b,h,t,s] * q[b,t,h,:]
//	dv[b,s,g,:]  += sum over heads h of group g, t >= s, of P[b,h,t,s] * dout[b,t,h,:]
//
// dS is the gradient of the scaled scores through the softmax. Each key and
// value head gathers from all NH/NKV query heads that read it. Shapes as in
// AttentionForward: dq, dout and q are (B,T,NH,HS); dk, dv, k and v are
// (B,T,NKV,HS); att is (B,NH,T,T) as AttentionForward saved it. Any of dq,
// dk and dv may be nil when not wanted. dS lives in a float64 scratch of
// one sequence, (NH,T,T); every sum is taken in float64 and added to its
// gradient once, whatever F is. No gradient may alias an input.
// Twin: shaders/attention_dq_bwd.wgsl and attention_dkv_bwd.wgsl.
func AttentionBackward[F ~float32 | ~float64](dq, dk, dv, dout, q, k, v, att []F, B, T, NH, NKV, HS int) {
	ds := make([]float64, NH*T*T)
	acc := make([]float64, 2*HS)
	for b := range B {
		attentionScoreGrads(ds, dout, v, att, b, T, NH, NKV, HS)
		if dq != nil {
			attentionQueryGrads(dq, ds, k, acc[:HS], b, T, NH, NKV, HS)
		}
		if dk != nil || dv != nil {
			attentionKeyValueGrads(dk, dv, ds, dout, q, att, acc, b, T, NH, NKV, HS)
		}
	}
}

// head is the HS values of head h at row bt (= b*T+t) of a (B,T,H,HS) tensor.
func head[F ~float32 | ~float64](x []F, bt, h, H, HS int) []F {
	return x[(bt*H+h)*HS:][:HS]
}

// attentionScoreGrads fills ds (NH,T,T) with dS of sequence b, scale
// included; entries s > t are 0.
func attentionScoreGrads[F ~float32 | ~float64](ds []float64, dout, v, att []F, b, T, NH, NKV, HS int) {
	scale := 1 / math.Sqrt(float64(HS))
	group := NH / NKV
	for h := range NH {
		for t := range T {
			p := att[((b*NH+h)*T+t)*T:][:T]
			dp := ds[(h*T+t)*T:][:T]
			clear(dp)
			o := head(dout, b*T+t, h, NH, HS)
			var pdp float64 // sum over s of P * dP
			for s := 0; s <= t; s++ {
				vh := head(v, b*T+s, h/group, NKV, HS)
				for i, ov := range o {
					dp[s] += float64(ov) * float64(vh[i])
				}
				pdp += float64(p[s]) * dp[s]
			}
			for s := 0; s <= t; s++ {
				dp[s] = float64(p[s]) * (dp[s] - pdp) * scale
			}
		}
	}
}

// attentionQueryGrads adds sequence b's dq, given its dS; acc is HS scratch.
func attentionQueryGrads[F ~float32 | ~float64](dq []F, ds []float64, k []F, acc []float64, b, T, NH, NKV, HS int) {
	group := NH / NKV
	for t := range T {
		for h := range NH {
			clear(acc)
			for s := 0; s <= t; s++ {
				d := ds[(h*T+t)*T+s]
				for i, kv := range head(k, b*T+s, h/group, NKV, HS) {
					acc[i] += d * float64(kv)
				}
			}
			addInto(dq, acc, (b*T+t)*NH*HS+h*HS)
		}
	}
}

// attentionKeyValueGrads adds sequence b's dk and dv (either may be nil),
// given its dS; acc is 2*HS scratch.
func attentionKeyValueGrads[F ~float32 | ~float64](dk, dv []F, ds []float64, dout, q, att []F, acc []float64, b, T, NH, NKV, HS int) {
	group := NH / NKV
	ak, av := acc[:HS], acc[HS:]
	for s := range T {
		for g := range NKV {
			clear(acc)
			for h := g * group; h < (g+1)*group; h++ {
				for t := s; t < T; t++ {
					d := ds[(h*T+t)*T+s]
					p := float64(att[((b*NH+h)*T+t)*T+s])
					o := head(dout, b*T+t, h, NH, HS)
					for i, qv := range head(q, b*T+t, h, NH, HS) {
						ak[i] += d * float64(qv)
						av[i] += p * float64(o[i])
					}
				}
			}
			addInto(dk, ak, (b*T+s)*NKV*HS+g*HS)
			addInto(dv, av, (b*T+s)*NKV*HS+g*HS)
		}
	}
}

// addInto adds src to dst[at:], rounding each total to F once; a nil dst
// (a gradient not wanted) is skipped.
func addInto[F ~float32 | ~float64](dst []F, src []float64, at int) {
	if dst == nil {
		return
	}
	for i, v := range src {
		dst[at+i] += F(v)
	}
}
