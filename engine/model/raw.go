package model

import (
	"fmt"

	"webpeft/engine/format/safetensors"
	"webpeft/engine/tensor"
)

// ReadRaw reads rows [rowStart, rowStart+rows) of the named tensor in
// canonical layout, still in the file's element type: GGUF blocks as they
// are, or safetensors F32/F16/BF16 elements. This is what goes to the GPU,
// so frozen weights are never expanded to float32. A transposed (Conv1D)
// weight is transposed element by element.
func (m *Model) ReadRaw(name string, rowStart, rows int) ([]byte, tensor.Type, error) {
	t, ok := m.Spec.Tensor(name)
	if !ok {
		return nil, 0, fmt.Errorf("model: no tensor %q", name)
	}
	typ, err := tensor.ParseType(t.Type)
	if err != nil {
		return nil, 0, fmt.Errorf("model: tensor %s: %w", name, err)
	}
	if m.readRaw == nil {
		return nil, 0, fmt.Errorf("model: tensor %s: this source cannot be read raw", name)
	}
	raw, err := m.readRaw(t, rowStart, rows)
	return raw, typ, err
}

// readHFRaw reads rows of t from a safetensors checkpoint as stored,
// transposing a Conv1D weight (stored (in, out)) to (out, in).
func readHFRaw(ck *safetensors.Checkpoint, t *Tensor, rowStart, rows int) ([]byte, error) {
	f, info, err := ck.Tensor(t.Source)
	if err != nil {
		return nil, err
	}
	if !t.Transposed {
		return f.ReadRaw(info, int64(rowStart), int64(rows))
	}
	in, out := t.Shape[1], t.Shape[0]
	if rowStart < 0 || rows < 0 || rowStart+rows > out {
		return nil, fmt.Errorf("model: rows [%d, %d) of %s are outside its %d rows", rowStart, rowStart+rows, t.Name, out)
	}
	all, err := f.ReadRaw(info, 0, int64(in))
	if err != nil {
		return nil, err
	}
	es := int(info.DType.Size())
	if es == 0 || len(all) != in*out*es {
		return nil, fmt.Errorf("model: %s: %d bytes of %s for %d x %d elements", t.Name, len(all), info.DType, in, out)
	}
	res := make([]byte, rows*in*es)
	for r := 0; r < rows; r++ {
		for k := 0; k < in; k++ {
			src := (k*out + rowStart + r) * es
			copy(res[(r*in+k)*es:(r*in+k+1)*es], all[src:src+es])
		}
	}
	return res, nil
}
