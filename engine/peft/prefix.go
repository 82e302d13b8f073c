package peft

import (
	"fmt"
	"math"
)

// PrefixKV returns the prefix-tuning keys and values of flat params as
// Hugging Face PEFT stores them: (P, L*2*KV) row-major, row p holding
// for each layer l its key (columns 2l*KV...) and then its value
// ((2l+1)*KV...), in the model's own Q/K row order. With
// PrefixProjection it runs the encoder MLP, tanh(E W1^T + b1) W2^T + b2,
// in float64.
func (s *Set) PrefixKV(params []float32) ([]float32, error) {
	c, ok := s.Config(Prefix)
	if !ok {
		return nil, fmt.Errorf("peft: the set has no prefix tuning")
	}
	if len(params) != s.Size {
		return nil, fmt.Errorf("peft: %d parameters for a set of %d", len(params), s.Size)
	}
	P, L, KV := c.VirtualTokens, s.Dims.Layers, s.Dims.KV
	out := make([]float32, P*L*2*KV)
	at := func(name string) []float32 {
		t, _ := s.Tensor(name)
		return params[t.Off : t.Off+t.Len]
	}
	if !c.PrefixProjection {
		for l := 0; l < L; l++ {
			for kv, which := range []string{"k", "v"} {
				src := at(fmt.Sprintf("blk.%d.prefix.%s", l, which))
				for p := 0; p < P; p++ {
					copy(out[p*L*2*KV+(2*l+kv)*KV:][:KV], src[p*KV:(p+1)*KV])
				}
			}
		}
		return out, nil
	}
	H, N := c.EncoderHidden, L*2*KV
	emb, w1, b1, w2, b2 := at("prefix.embedding"), at("prefix.w1"), at("prefix.b1"), at("prefix.w2"), at("prefix.b2")
	h := make([]float64, H)
	for p := 0; p < P; p++ {
		e := emb[p*KV : (p+1)*KV]
		for j := range h {
			sum := float64(b1[j])
			for i, x := range e {
				sum += float64(w1[j*KV+i]) * float64(x)
			}
			h[j] = math.Tanh(sum)
		}
		for n := 0; n < N; n++ {
			sum := float64(b2[n])
			for j, x := range h {
				sum += float64(w2[n*H+j]) * x
			}
			out[p*N+n] = float32(sum)
		}
	}
	return out, nil
}

// Projected reports whether the set trains its prefixes through the
// reparameterisation MLP.
func (s *Set) Projected() bool {
	c, ok := s.Config(Prefix)
	return ok && c.PrefixProjection
}

// InferenceForm returns a set and parameters without the prefix
// reparameterisation: the MLP's outputs become plain per-layer prefixes
// (blk.N.prefix.k/v), which is all inference needs (and what PEFT saves).
// A set without PrefixProjection is returned as it is.
func (s *Set) InferenceForm(params []float32) (*Set, []float32, error) {
	if !s.Projected() {
		return s, params, nil
	}
	kv, err := s.PrefixKV(params)
	if err != nil {
		return nil, nil, err
	}
	configs := make([]Config, len(s.Configs))
	for i, c := range s.Configs {
		if c.Method == Prefix {
			c.PrefixProjection, c.EncoderHidden = false, 0
		}
		configs[i] = c
	}
	plain, err := NewSet(s.Dims, configs...)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, plain.Size)
	for _, t := range plain.Tensors {
		if old, ok := s.Tensor(t.Name); ok {
			copy(out[t.Off:t.Off+t.Len], params[old.Off:old.Off+old.Len])
		}
	}
	c, _ := plain.Config(Prefix)
	P, L, KV := c.VirtualTokens, s.Dims.Layers, s.Dims.KV
	for l := 0; l < L; l++ {
		for j, which := range []string{"k", "v"} {
			t, _ := plain.Tensor(fmt.Sprintf("blk.%d.prefix.%s", l, which))
			for p := 0; p < P; p++ {
				copy(out[t.Off+p*KV:][:KV], kv[p*L*2*KV+(2*l+j)*KV:][:KV])
			}
		}
	}
	return plain, out, nil
}
