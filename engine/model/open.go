package model

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"webpeft/engine/format/gguf"
	"webpeft/engine/format/hf"
	"webpeft/engine/format/safetensors"
	"webpeft/engine/tokenizer"
)

// Model is an opened model file or folder: its Spec, its tokenizer (when
// the source has one) and a reader of its weights by canonical name.
type Model struct {
	Spec         *Spec
	Vocab        *tokenizer.Vocab // nil when the source carries no tokenizer
	ChatTemplate string
	Bytes        int64  // total size of the weight files
	Format       string // "gguf" or "safetensors"

	read    func(t *Tensor, rowStart, rows int) ([]float32, error)
	readRaw func(t *Tensor, rowStart, rows int) ([]byte, error)
	closer  func() error
}

// Open opens a GGUF file, or a Hugging Face folder (config.json,
// *.safetensors, tokenizer.json).
func Open(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return OpenHF(os.DirFS(path), filepath.Base(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := OpenGGUF(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.closer = f.Close
	return m, nil
}

// OpenGGUF reads a GGUF model from r of size bytes.
func OpenGGUF(r io.ReaderAt, size int64) (*Model, error) {
	f, err := gguf.Open(r, size)
	if err != nil {
		return nil, err
	}
	s, err := FromGGUF(f)
	if err != nil {
		return nil, err
	}
	m := &Model{Spec: s, Bytes: size, Format: "gguf", closer: func() error { return nil }}
	if _, ok := f.String("tokenizer.ggml.model"); ok {
		v, err := tokenizer.FromGGUF(f)
		if err != nil {
			return nil, err
		}
		m.Vocab = &v
		m.ChatTemplate, _ = tokenizer.ChatTemplate(f)
	}
	m.read = func(t *Tensor, rowStart, rows int) ([]float32, error) {
		info, ok := f.Tensor(t.Source)
		if !ok {
			return nil, fmt.Errorf("model: GGUF has no tensor %q", t.Source)
		}
		return f.ReadF32(info, rowStart, rows)
	}
	m.readRaw = func(t *Tensor, rowStart, rows int) ([]byte, error) {
		info, ok := f.Tensor(t.Source)
		if !ok {
			return nil, fmt.Errorf("model: GGUF has no tensor %q", t.Source)
		}
		return f.ReadRaw(info, rowStart, rows)
	}
	return m, nil
}

// OpenHF reads a Hugging Face model folder. name is used when the config
// does not name the model.
func OpenHF(fsys fs.FS, name string) (*Model, error) {
	meta, err := hf.Load(fsys)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenFS(fsys)
	if err != nil {
		return nil, err
	}
	s, err := FromHF(meta.Config, ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	s.Name = name
	m := &Model{Spec: s, Format: "safetensors", closer: ck.Close}
	for _, n := range ck.Names() {
		_, t, _ := ck.Tensor(n)
		m.Bytes += t.End - t.Begin
	}
	if err := m.loadHFTokenizer(fsys, meta); err != nil {
		ck.Close()
		return nil, err
	}
	m.read = func(t *Tensor, rowStart, rows int) ([]float32, error) { return readHF(ck, t, rowStart, rows) }
	m.readRaw = func(t *Tensor, rowStart, rows int) ([]byte, error) { return readHFRaw(ck, t, rowStart, rows) }
	return m, nil
}

func (m *Model) loadHFTokenizer(fsys fs.FS, meta *hf.Model) error {
	tj, err := fsys.Open("tokenizer.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer tj.Close()
	var v tokenizer.Vocab
	if cfg, err := fsys.Open(hf.TokenizerConfigFile); err == nil {
		defer cfg.Close()
		v, err = tokenizer.FromTokenizerJSONWithConfig(tj, cfg)
		if err != nil {
			return fmt.Errorf("tokenizer.json: %w", err)
		}
	} else if v, err = tokenizer.FromTokenizerJSON(tj); err != nil {
		return fmt.Errorf("tokenizer.json: %w", err)
	}
	m.Vocab = &v
	if meta.Tokenizer != nil {
		m.ChatTemplate = meta.Tokenizer.ChatTemplate
	}
	return nil
}

// readHF reads rows of t in canonical layout. A transposed (Conv1D)
// weight is read whole and transposed: such tensors are a few MB.
func readHF(ck *safetensors.Checkpoint, t *Tensor, rowStart, rows int) ([]float32, error) {
	f, info, err := ck.Tensor(t.Source)
	if err != nil {
		return nil, err
	}
	if !t.Transposed {
		return f.ReadF32(info, int64(rowStart), int64(rows))
	}
	in, out := t.Shape[1], t.Shape[0] // stored (in, out)
	if rowStart < 0 || rows < 0 || rowStart+rows > out {
		return nil, fmt.Errorf("model: rows [%d, %d) of %s are outside its %d rows", rowStart, rowStart+rows, t.Name, out)
	}
	all, err := f.ReadF32(info, 0, int64(in))
	if err != nil {
		return nil, err
	}
	res := make([]float32, rows*in)
	for r := 0; r < rows; r++ {
		for k := 0; k < in; k++ {
			res[r*in+k] = all[k*out+rowStart+r]
		}
	}
	return res, nil
}

// ReadF32 reads rows [rowStart, rowStart+rows) of the named tensor in
// canonical layout (nn.Linear: one row per output), decoded to float32.
// A 1-D tensor is one row.
func (m *Model) ReadF32(name string, rowStart, rows int) ([]float32, error) {
	t, ok := m.Spec.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("model: no tensor %q", name)
	}
	return m.read(t, rowStart, rows)
}

// Close releases the files behind the model.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	return m.closer()
}

// Rows is the number of rows of t in canonical layout (1 for a vector).
func (t *Tensor) Rows() int {
	if len(t.Shape) < 2 {
		return 1
	}
	n := 1
	for _, d := range t.Shape[:len(t.Shape)-1] {
		n *= d
	}
	return n
}

// RowLen is the length of one row (the fastest dimension).
func (t *Tensor) RowLen() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// OpenVocab reads only the tokenizer of a GGUF file (vocabulary-only files
// included) or of a Hugging Face folder's tokenizer.json.
func OpenVocab(path string) (*tokenizer.Vocab, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		m := &Model{}
		meta, err := hf.Load(os.DirFS(path))
		if err != nil {
			return nil, err
		}
		if err := m.loadHFTokenizer(os.DirFS(path), meta); err != nil {
			return nil, err
		}
		if m.Vocab == nil {
			return nil, fmt.Errorf("%s has no tokenizer.json", path)
		}
		return m.Vocab, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := gguf.Open(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &v, nil
}
