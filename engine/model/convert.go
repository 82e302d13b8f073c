package model

import (
	"fmt"
	"io"
	"strings"

	"webpeft/engine/format/gguf"
	"webpeft/engine/tensor"
	"webpeft/engine/tokenizer"
)

// fileType is llama.cpp's general.file_type for a whole-file type
// (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0, and for the
// test models' K-quants MOSTLY_Q4_K_S, MOSTLY_Q6_K).
var fileType = map[tensor.Type]uint32{tensor.F32: 0, tensor.F16: 1, tensor.Q4_0: 2, tensor.Q8_0: 7,
	tensor.Q4_K: 14, tensor.Q6_K: 18}

// ConvertTypes are the types `webpeft convert --type` offers.
var ConvertTypes = []tensor.Type{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K}

// WriteGGUF writes m as a GGUF file llama.cpp loads: llama.cpp's metadata
// keys, its tensor names, 2-D weights in typ (rows whose length does not
// fit typ's blocks in F16, as llama-quantize falls back), vectors in F32,
// and for llama checkpoints from Hugging Face the Q/K rows permuted for
// interleaved RoPE (PermuteQK) as llama.cpp's converter does. Tensor data
// streams through row by row; nothing the size of the model is held.
func WriteGGUF(w io.Writer, m *Model, typ tensor.Type) error {
	ft, ok := fileType[typ]
	if !ok {
		return fmt.Errorf("model: cannot convert to %s (choose one of %v)", typ, ConvertTypes)
	}
	b := gguf.NewBuilder()
	if err := addSpecKV(b, m.Spec, ft); err != nil {
		return err
	}
	if m.Vocab != nil {
		if err := addTokenizerKV(b, m.Vocab, m.ChatTemplate); err != nil {
			return err
		}
	}
	permute := m.Spec.Arch == Llama && m.Spec.Rope == RopeHalf
	for i := range m.Spec.Tensors {
		t := &m.Spec.Tensors[i]
		if err := addTensor(b, m, t, typ, permute); err != nil {
			return fmt.Errorf("model: %s: %w", t.Name, err)
		}
	}
	_, err := b.WriteTo(w)
	return err
}

// kv is one metadata entry to write.
type kv struct {
	key string
	val any
}

func addKVs(b *gguf.Builder, kvs []kv) error {
	for _, e := range kvs {
		if err := b.AddKV(e.key, e.val); err != nil {
			return err
		}
	}
	return nil
}

// addSpecKV writes the hyper-parameters under llama.cpp's key names.
func addSpecKV(b *gguf.Builder, s *Spec, ft uint32) error {
	a := string(s.Arch)
	kvs := []kv{
		{"general.architecture", a},
		{"general.name", s.Name},
		{"general.file_type", ft},
		{"general.quantization_version", uint32(2)},
		{a + ".context_length", uint32(s.Context)},
		{a + ".embedding_length", uint32(s.Hidden)},
		{a + ".block_count", uint32(s.Layers)},
		{a + ".feed_forward_length", uint32(s.FFN)},
		{a + ".attention.head_count", uint32(s.Heads)},
		{a + ".attention.head_count_kv", uint32(s.KVHeads)},
		{a + ".vocab_size", uint32(s.Vocab)},
	}
	if s.Norm == RMSNorm {
		kvs = append(kvs, kv{a + ".attention.layer_norm_rms_epsilon", float32(s.NormEps)})
	} else {
		kvs = append(kvs, kv{a + ".attention.layer_norm_epsilon", float32(s.NormEps)})
	}
	if s.Rope != RopeNone {
		kvs = append(kvs, kv{a + ".rope.freq_base", float32(s.RopeTheta)}, kv{a + ".rope.dimension_count", uint32(s.HeadDim)})
	}
	if s.HeadDim*s.Heads != s.Hidden {
		kvs = append(kvs, kv{a + ".attention.key_length", uint32(s.HeadDim)}, kv{a + ".attention.value_length", uint32(s.HeadDim)})
	}
	return addKVs(b, kvs)
}

// addTokenizerKV writes the vocabulary under tokenizer.ggml.* keys.
func addTokenizerKV(b *gguf.Builder, v *tokenizer.Vocab, chatTemplate string) error {
	kvs := []kv{{"tokenizer.ggml.model", v.Model}}
	if v.Model == tokenizer.ModelGPT2 {
		pre := v.Pre
		if pre == "" {
			pre = "default"
		}
		kvs = append(kvs, kv{"tokenizer.ggml.pre", pre})
	}
	kvs = append(kvs, kv{"tokenizer.ggml.tokens", v.Tokens})
	if len(v.Scores) > 0 {
		kvs = append(kvs, kv{"tokenizer.ggml.scores", v.Scores})
	}
	if len(v.Types) > 0 {
		kvs = append(kvs, kv{"tokenizer.ggml.token_type", v.Types})
	}
	if len(v.Merges) > 0 {
		kvs = append(kvs, kv{"tokenizer.ggml.merges", v.Merges})
	}
	for _, id := range []struct {
		key string
		id  int
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}, {"padding", v.PAD}} {
		if id.id >= 0 {
			kvs = append(kvs, kv{"tokenizer.ggml." + id.key + "_token_id", uint32(id.id)})
		}
	}
	kvs = append(kvs, kv{"tokenizer.ggml.add_bos_token", v.AddBOS}, kv{"tokenizer.ggml.add_eos_token", v.AddEOS})
	if v.Model == tokenizer.ModelLlama {
		kvs = append(kvs, kv{"tokenizer.ggml.add_space_prefix", !v.NoSpacePrefix})
	}
	if chatTemplate != "" {
		kvs = append(kvs, kv{"tokenizer.chat_template", chatTemplate})
	}
	return addKVs(b, kvs)
}

// storedType picks the type a tensor is written in.
func storedType(t *Tensor, typ tensor.Type) tensor.Type {
	if len(t.Shape) < 2 {
		return tensor.F32
	}
	if t.RowLen()%typ.BlockLen() != 0 {
		return tensor.F16
	}
	return typ
}

// convertChunkRows bounds the rows decoded at once while streaming.
const convertChunkRows = 256

// addTensor queues t, to be read, permuted if needed, and encoded when the
// builder writes it.
func addTensor(b *gguf.Builder, m *Model, t *Tensor, typ tensor.Type, permute bool) error {
	st := storedType(t, typ)
	rowBytes, err := st.RowBytes(t.RowLen())
	if err != nil {
		return err
	}
	heads := 0
	if permute && strings.HasSuffix(t.Name, ".attn_q.weight") {
		heads = m.Spec.Heads
	} else if permute && strings.HasSuffix(t.Name, ".attn_k.weight") {
		heads = m.Spec.KVHeads
	}
	shape := make([]uint64, len(t.Shape))
	for i, d := range t.Shape {
		shape[len(t.Shape)-1-i] = uint64(d)
	}
	return b.AddTensorFunc(t.Name, st, shape, func(w io.Writer) error {
		if heads > 0 {
			return writePermuted(w, m, t, st, rowBytes, heads)
		}
		return writeRows(w, m, t, st, rowBytes)
	})
}

// writeRows streams t's rows, encoded as st, in chunks.
func writeRows(w io.Writer, m *Model, t *Tensor, st tensor.Type, rowBytes int) error {
	buf := make([]byte, convertChunkRows*rowBytes)
	for r := 0; r < t.Rows(); r += convertChunkRows {
		n := min(convertChunkRows, t.Rows()-r)
		x, err := m.read(t, r, n)
		if err != nil {
			return err
		}
		if err := tensor.EncodeRows(st, buf[:n*rowBytes], x); err != nil {
			return err
		}
		if _, err := w.Write(buf[:n*rowBytes]); err != nil {
			return err
		}
	}
	return nil
}

// writePermuted encodes a whole Q or K projection and permutes its rows.
func writePermuted(w io.Writer, m *Model, t *Tensor, st tensor.Type, rowBytes, heads int) error {
	x, err := m.read(t, 0, t.Rows())
	if err != nil {
		return err
	}
	raw := make([]byte, t.Rows()*rowBytes)
	if err := tensor.EncodeRows(st, raw, x); err != nil {
		return err
	}
	out := make([]byte, len(raw))
	if err := PermuteQK(out, raw, heads, rowBytes); err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
