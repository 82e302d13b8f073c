package ref

// EncoderForward looks up token embeddings and, when wpe is not nil, adds
// learned position embeddings (gpt2):
//
//	out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]
//
// tokens is (B,T) with ids < V, wte is (V,C), wpe is (maxT,C) with
// maxT >= T, or nil (llama and qwen2 use RoPE instead), out is (B,T,C).
// Twin: shaders/embed_*_fwd.wgsl.
func EncoderForward[F ~float32 | ~float64](out []F, tokens []int, wte, wpe []F, B, T, C int) {
	for b := range B {
		for t := range T {
			o := out[(b*T+t)*C:][:C]
			copy(o, wte[tokens[b*T+t]*C:][:C])
			if wpe != nil {
				Add(o, o, wpe[t*C:][:C])
			}
		}
	}
}

// EncoderBackward is EncoderForward's backward pass, a scatter-add:
//
//	dwte[tokens[b,t],:] += dout[b,t,:]
//	dwpe[t,:]           += dout[b,t,:]
//
// Shapes as in EncoderForward: dout is (B,T,C), dwte (V,C), dwpe (maxT,C).
// A token that occurs several times gathers every occurrence's gradient.
// Either gradient may be nil when not wanted (a frozen embedding table;
// no position embeddings).
// Twin: none yet (no kernel needs encoder_bwd).
func EncoderBackward[F ~float32 | ~float64](dwte, dwpe, dout []F, tokens []int, B, T, C int) {
	for b := range B {
		for t := range T {
			d := dout[(b*T+t)*C:][:C]
			if dwte != nil {
				row := dwte[tokens[b*T+t]*C:][:C]
				Add(row, row, d)
			}
			if dwpe != nil {
				row := dwpe[t*C:][:C]
				Add(row, row, d)
			}
		}
	}
}
