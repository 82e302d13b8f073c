package peft

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"webpeft/engine/format/safetensors"
)

// NativeFormat names webpeft's own adapter files: adapter_config.json
// holding {"format": NativeFormat, "base_model": name, "model":
// ModelInfo, "set": Set} and adapter_model.safetensors holding each
// tensor of the set under its name (blk.N.lora_q.a, ...), f32, in the
// set's shapes, in the trained model's Q/K row order. Every method,
// bottleneck adapters included, round-trips through it exactly. Folders
// written before "model" was recorded still load; they cannot be
// exported without naming the model.
const NativeFormat = "webpeft-native-1"

// File names of a saved adapter.
const (
	ConfigFile  = "adapter_config.json"
	TensorsFile = "adapter_model.safetensors"
)

type nativeConfig struct {
	Format    string     `json:"format"`
	BaseModel string     `json:"base_model"`
	Model     *ModelInfo `json:"model,omitempty"`
	Set       *Set       `json:"set"`
}

// IsNative reports whether config (an adapter_config.json) is webpeft's
// native format rather than, say, Hugging Face PEFT's.
func IsNative(config []byte) bool {
	var c struct {
		Format string `json:"format"`
	}
	return json.Unmarshal(config, &c) == nil && c.Format == NativeFormat
}

// WriteNative writes set's tensors from the flat params as the native
// format's two files; info describes the model they were trained on.
func WriteNative(config, tensors io.Writer, set *Set, params []float32, info ModelInfo) error {
	if len(params) != set.Size {
		return fmt.Errorf("peft: %d parameters for a set of %d", len(params), set.Size)
	}
	if err := info.Check(set.Dims); err != nil {
		return err
	}
	var ts []safetensors.WriteTensor
	for _, t := range set.Tensors {
		b := make([]byte, 4*t.Len)
		for i, x := range params[t.Off : t.Off+t.Len] {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		ts = append(ts, safetensors.WriteTensor{Name: t.Name, DType: safetensors.F32, Shape: shape, Data: b})
	}
	if err := safetensors.Write(tensors, ts, map[string]string{"format": NativeFormat}); err != nil {
		return err
	}
	b, err := json.MarshalIndent(nativeConfig{Format: NativeFormat, BaseModel: info.Name, Model: &info, Set: set}, "", " ")
	if err != nil {
		return err
	}
	_, err = config.Write(append(b, '\n'))
	return err
}

// ReadNative reads the native format back: the set, its flat parameters
// and the model it was trained on (nil for folders written before that
// was recorded). want, when not nil, must match the adapter's model
// dimensions (an adapter made for another model is refused by name).
func ReadNative(config, tensors []byte, want *Dims) (*Set, []float32, *ModelInfo, error) {
	var c nativeConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, nil, nil, fmt.Errorf("peft: %s: %w", ConfigFile, err)
	}
	if c.Format != NativeFormat || c.Set == nil {
		return nil, nil, nil, fmt.Errorf("peft: %s is not a webpeft native adapter (format %q)", ConfigFile, c.Format)
	}
	set, err := NewSet(c.Set.Dims, c.Set.Configs...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("peft: %s: %w", ConfigFile, err)
	}
	if want != nil && *want != set.Dims {
		return nil, nil, nil, fmt.Errorf("peft: the adapter was made for a model with %+v, not %+v (base model %q)", set.Dims, *want, c.BaseModel)
	}
	if c.Model != nil {
		if err := c.Model.Check(set.Dims); err != nil {
			return nil, nil, nil, fmt.Errorf("peft: %s: %w", ConfigFile, err)
		}
	}
	params, err := readNativeTensors(tensors, set)
	if err != nil {
		return nil, nil, nil, err
	}
	return set, params, c.Model, nil
}

// readNativeTensors reads every tensor of set from the safetensors bytes.
func readNativeTensors(tensors []byte, set *Set) ([]float32, error) {
	f, err := safetensors.Open(bytes.NewReader(tensors), int64(len(tensors)))
	if err != nil {
		return nil, fmt.Errorf("peft: %s: %w", TensorsFile, err)
	}
	params := make([]float32, set.Size)
	for _, t := range set.Tensors {
		info, err := f.Tensor(t.Name)
		if err != nil {
			return nil, fmt.Errorf("peft: %s: %w", TensorsFile, err)
		}
		v, err := f.ReadF32(info, 0, info.Rows())
		if err != nil {
			return nil, err
		}
		if len(v) != t.Len {
			return nil, fmt.Errorf("peft: %s: %s holds %d values, want %d %v", TensorsFile, t.Name, len(v), t.Len, t.Shape)
		}
		copy(params[t.Off:], v)
	}
	return params, nil
}
