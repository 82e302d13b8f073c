package model

import (
	"fmt"

	"webpeft/engine/ref"
)

// Reference is a model's weights decoded to float32 for the CPU reference
// forward pass (engine/ref, llm.c style): the slow, plain twin that the GPU
// forward pass is tested against on tiny models. Every frozen weight is
// expanded to f32 here, so it is for tests and small models only.
//
// Shapes: V vocab, C hidden, L layers, NH heads, NKV KV heads, HS head
// size, FFN feed-forward width, Q = NH*HS, KV = NKV*HS.
type Reference struct {
	Spec       *Spec
	TokenEmbd  []float32 // (V, C)
	PosEmbd    []float32 // (Context, C), gpt2 only; nil otherwise
	Layers     []ReferenceLayer
	OutputNorm []float32 // (C)
	OutputBias []float32 // (C), LayerNorm models; nil otherwise
	Output     []float32 // (V, C); TokenEmbd itself when embeddings are tied
}

// ReferenceLayer is one transformer block. Biases are nil where the
// architecture has none; gpt2's fused QKV is split into Q, K and V.
type ReferenceLayer struct {
	AttnNorm, AttnNormBias []float32 // (C)
	Q, QBias               []float32 // (Q, C), (Q)
	K, KBias               []float32 // (KV, C), (KV)
	V, VBias               []float32 // (KV, C), (KV)
	AttnOut, AttnOutBias   []float32 // (C, Q), (C)
	FFNNorm, FFNNormBias   []float32 // (C)
	Gate                   []float32 // (FFN, C), SiLU-gated models only
	Up, UpBias             []float32 // (FFN, C), (FFN)
	Down, DownBias         []float32 // (C, FFN), (C)
}

// ReferenceLogits runs tokens, one sequence at positions 0..T-1, through m
// on the CPU and returns the logits, one row of V per position.
func ReferenceLogits(m *Model, tokens []int) ([][]float32, error) {
	r, err := LoadReference(m)
	if err != nil {
		return nil, err
	}
	logits, err := r.Forward(tokens)
	if err != nil {
		return nil, err
	}
	V := r.Spec.Vocab
	rows := make([][]float32, len(tokens))
	for t := range rows {
		rows[t] = logits[t*V : (t+1)*V : (t+1)*V]
	}
	return rows, nil
}

// checkReference refuses what the reference forward pass does not compute.
func checkReference(s *Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	switch {
	case s.RopeScaling != nil:
		return fmt.Errorf("model: reference forward: rope scaling (llama3) is not supported")
	case s.Arch == GPT2 && (s.Norm != LayerNorm || s.Activation != "gelu_tanh" || s.Rope != RopeNone):
		return fmt.Errorf("model: reference forward: gpt2 needs layernorm, gelu_tanh and no rope; got %v, %q, rope %v", s.Norm, s.Activation, s.Rope)
	case s.Arch != GPT2 && (s.Norm != RMSNorm || s.Activation != "silu" || s.Rope == RopeNone):
		return fmt.Errorf("model: reference forward: %s needs rmsnorm, silu and rope; got %v, %q, rope %v", s.Arch, s.Norm, s.Activation, s.Rope)
	case s.Rope != RopeNone && s.RopeTheta <= 0:
		return fmt.Errorf("model: reference forward: rope theta is %v; it must be positive", s.RopeTheta)
	}
	return nil
}

// LoadReference decodes all of m's weights to float32.
func LoadReference(m *Model) (*Reference, error) {
	s := m.Spec
	if err := checkReference(s); err != nil {
		return nil, err
	}
	C, Q, KV := s.Hidden, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	var err error
	// read reads a whole tensor, checking its size; optional tensors that
	// are absent come back nil. After the first error it does nothing.
	read := func(name string, rows, cols int, optional bool) []float32 {
		if err != nil {
			return nil
		}
		t, ok := s.Tensor(name)
		if !ok {
			if !optional {
				err = fmt.Errorf("model: reference forward: no tensor %q", name)
			}
			return nil
		}
		if t.Rows() != rows || t.RowLen() != cols {
			err = fmt.Errorf("model: reference forward: %s is %v, want (%d, %d)", name, t.Shape, rows, cols)
			return nil
		}
		var x []float32
		if x, err = m.ReadF32(name, 0, rows); err == nil && len(x) != rows*cols {
			err = fmt.Errorf("model: reference forward: %s decoded to %d values, want %d", name, len(x), rows*cols)
		}
		return x
	}
	gpt2 := s.Arch == GPT2
	r := &Reference{Spec: s, Layers: make([]ReferenceLayer, s.Layers)}
	r.TokenEmbd = read("token_embd.weight", s.Vocab, C, false)
	if gpt2 {
		pe, ok := s.Tensor("position_embd.weight")
		if !ok {
			return nil, fmt.Errorf("model: reference forward: gpt2 has no position_embd.weight")
		}
		r.PosEmbd = read(pe.Name, pe.Rows(), C, false)
	}
	for l := range r.Layers {
		w := &r.Layers[l]
		blk := func(n string) string { return fmt.Sprintf("blk.%d.%s", l, n) }
		w.AttnNorm = read(blk("attn_norm.weight"), 1, C, false)
		w.AttnNormBias = read(blk("attn_norm.bias"), 1, C, !gpt2)
		w.FFNNorm = read(blk("ffn_norm.weight"), 1, C, false)
		w.FFNNormBias = read(blk("ffn_norm.bias"), 1, C, !gpt2)
		if gpt2 {
			qkv := read(blk("attn_qkv.weight"), Q+2*KV, C, false)
			qkvb := read(blk("attn_qkv.bias"), 1, Q+2*KV, true)
			if err != nil {
				return nil, err
			}
			w.Q, w.K, w.V = qkv[:Q*C], qkv[Q*C:(Q+KV)*C], qkv[(Q+KV)*C:]
			if qkvb != nil {
				w.QBias, w.KBias, w.VBias = qkvb[:Q], qkvb[Q:Q+KV], qkvb[Q+KV:]
			}
		} else {
			w.Q = read(blk("attn_q.weight"), Q, C, false)
			w.K = read(blk("attn_k.weight"), KV, C, false)
			w.V = read(blk("attn_v.weight"), KV, C, false)
			w.QBias = read(blk("attn_q.bias"), 1, Q, true)
			w.KBias = read(blk("attn_k.bias"), 1, KV, true)
			w.VBias = read(blk("attn_v.bias"), 1, KV, true)
			w.Gate = read(blk("ffn_gate.weight"), s.FFN, C, false)
		}
		w.AttnOut = read(blk("attn_output.weight"), C, Q, false)
		w.AttnOutBias = read(blk("attn_output.bias"), 1, C, true)
		w.Up = read(blk("ffn_up.weight"), s.FFN, C, false)
		w.UpBias = read(blk("ffn_up.bias"), 1, s.FFN, true)
		w.Down = read(blk("ffn_down.weight"), C, s.FFN, false)
		w.DownBias = read(blk("ffn_down.bias"), 1, C, true)
	}
	r.OutputNorm = read("output_norm.weight", 1, C, false)
	r.OutputBias = read("output_norm.bias", 1, C, !gpt2)
	r.Output = r.TokenEmbd
	if !s.TiedEmbeddings {
		r.Output = read("output.weight", s.Vocab, C, false)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Forward runs tokens, one sequence at positions 0..T-1, and returns the
// logits (T, V), row-major.
func (r *Reference) Forward(tokens []int) ([]float32, error) {
	s := r.Spec
	const B = 1
	T, C, V := len(tokens), s.Hidden, s.Vocab
	NH, NKV, HS, FFN := s.Heads, s.KVHeads, s.HeadDim, s.FFN
	Q, KV := NH*HS, NKV*HS
	if T == 0 {
		return nil, fmt.Errorf("model: reference forward: no tokens")
	}
	for i, id := range tokens {
		if id < 0 || id >= V {
			return nil, fmt.Errorf("model: reference forward: token %d at position %d is outside the vocabulary of %d", id, i, V)
		}
	}
	if r.PosEmbd != nil && T*C > len(r.PosEmbd) {
		return nil, fmt.Errorf("model: reference forward: %d tokens exceed the %d learned positions", T, len(r.PosEmbd)/C)
	}
	pos := make([]int, T)
	for t := range pos {
		pos[t] = t
	}
	pairs := ref.RopeInterleaved
	if s.Rope == RopeHalf {
		pairs = ref.RopeHalf
	}
	norm := func(out, inp, weight, bias []float32) {
		if s.Norm == LayerNorm {
			ref.LayerNormForward(out, nil, nil, inp, weight, bias, B, T, C, s.NormEps)
		} else {
			ref.RMSNormForward(out, nil, inp, weight, B, T, C, s.NormEps)
		}
	}

	residual := make([]float32, T*C) // (B,T,C) the residual stream
	ln := make([]float32, T*C)       // (B,T,C) normalized input of a sublayer
	q := make([]float32, T*Q)        // (B,T,NH,HS)
	k := make([]float32, T*KV)       // (B,T,NKV,HS)
	v := make([]float32, T*KV)       // (B,T,NKV,HS)
	atty := make([]float32, T*Q)     // (B,T,NH,HS) attention output
	proj := make([]float32, T*C)     // (B,T,C) a sublayer's output
	h := make([]float32, T*FFN)      // (B,T,FFN)
	up := make([]float32, T*FFN)     // (B,T,FFN)

	ref.EncoderForward(residual, tokens, r.TokenEmbd, r.PosEmbd, B, T, C)
	for _, w := range r.Layers {
		norm(ln, residual, w.AttnNorm, w.AttnNormBias)
		ref.LinearForward(q, ln, w.Q, w.QBias, B*T, C, Q)
		ref.LinearForward(k, ln, w.K, w.KBias, B*T, C, KV)
		ref.LinearForward(v, ln, w.V, w.VBias, B*T, C, KV)
		if s.Rope != RopeNone {
			ref.RopeForward(q, q, pos, B, T, NH, HS, s.RopeTheta, pairs)
			ref.RopeForward(k, k, pos, B, T, NKV, HS, s.RopeTheta, pairs)
		}
		ref.AttentionForward(atty, nil, q, k, v, B, T, NH, NKV, HS)
		ref.LinearForward(proj, atty, w.AttnOut, w.AttnOutBias, B*T, Q, C)
		ref.Add(residual, residual, proj)

		norm(ln, residual, w.FFNNorm, w.FFNNormBias)
		ref.LinearForward(h, ln, w.Up, w.UpBias, B*T, C, FFN)
		if w.Gate != nil {
			copy(up, h)
			ref.LinearForward(h, ln, w.Gate, nil, B*T, C, FFN)
			ref.SwiGLUForward(h, h, up)
		} else {
			ref.GeluForward(h, h)
		}
		ref.LinearForward(proj, h, w.Down, w.DownBias, B*T, FFN, C)
		ref.Add(residual, residual, proj)
	}
	norm(ln, residual, r.OutputNorm, r.OutputBias)
	logits := make([]float32, T*V) // (B,T,V)
	ref.LinearForward(logits, ln, r.Output, nil, B*T, C, V)
	return logits, nil
}
