package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"webpeft/engine/format/safetensors"
)

// stateKey is the safetensors metadata key that holds a checkpoint's
// counters and PEFT layout (checkpoint.json's content).
const stateKey = "webpeft.train.state"

// EncodeState serialises st to one byte slice (for storage without a file
// system, such as the browser's Origin Private File System): a
// safetensors file with the tensors "params", "m" and "v" (F32) and the
// counters and PEFT layout of checkpoint.json in its metadata. extra
// goes into the metadata too (the caller's own record, e.g. a loss
// history); DecodeState returns it.
func EncodeState(st *State, extra map[string]string) ([]byte, error) {
	if st == nil || st.Set == nil {
		return nil, errors.New("train: a checkpoint needs its PEFT set")
	}
	meta, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	md := map[string]string{}
	for k, v := range extra {
		md[k] = v
	}
	md[stateKey] = string(meta)
	var buf bytes.Buffer
	err = safetensors.Write(&buf, []safetensors.WriteTensor{
		f32Tensor("params", st.Params), f32Tensor("m", st.M), f32Tensor("v", st.V),
	}, md)
	return buf.Bytes(), err
}

// DecodeState reads what EncodeState wrote, with its extra metadata.
func DecodeState(b []byte) (*State, map[string]string, error) {
	f, err := safetensors.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	raw, ok := f.Metadata[stateKey]
	if !ok {
		return nil, nil, errors.New("train: checkpoint: not a webpeft training checkpoint")
	}
	st := &State{}
	if err := json.Unmarshal([]byte(raw), st); err != nil {
		return nil, nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	if st.Set == nil {
		return nil, nil, errors.New("train: checkpoint names no PEFT methods")
	}
	for _, x := range []struct {
		name string
		dst  *[]float32
	}{{"params", &st.Params}, {"m", &st.M}, {"v", &st.V}} {
		info, err := f.Tensor(x.name)
		if err != nil {
			return nil, nil, err
		}
		if *x.dst, err = f.ReadF32(info, 0, 1); err != nil {
			return nil, nil, err
		}
		if len(*x.dst) != st.Set.Size {
			return nil, nil, fmt.Errorf("train: checkpoint %s holds %d values for a layout of %d", x.name, len(*x.dst), st.Set.Size)
		}
	}
	extra := map[string]string{}
	for k, v := range f.Metadata {
		if k != stateKey {
			extra[k] = v
		}
	}
	return st, extra, nil
}
