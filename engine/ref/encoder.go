package ref

// EncoderForward looks up token embeddings and, when wpe is not nil, adds
// learned position embeddings (gpt2):
//
//	out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]
//
// tokens is (B,T) with ids < V, wte is (V,C), wpe is (maxT,C) with
// maxT >= T, or nil (llama and qwen2 use RoPE instead), out is (B,T,C).
// Twin (not written yet): shaders/encoder_fwd.wgsl.
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
