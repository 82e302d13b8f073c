package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"webpeft/engine/format/safetensors"
	"webpeft/engine/peft"
)

// State is everything a run needs to continue exactly where it stopped:
// the PEFT parameters and AdamW moments (checkpoint.safetensors) and the
// counters (checkpoint.json).
type State struct {
	Step   int       `json:"step"`   // optimizer steps done
	Epoch  int       `json:"epoch"`  // the batcher's position
	Next   int       `json:"next"`   //
	AdamT  int       `json:"adam_t"` // AdamW's bias-correction step
	Seed   uint64    `json:"seed"`   // data and dropout seed
	Set    *peft.Set `json:"set"`    // the methods and their layout
	Params []float32 `json:"-"`
	M, V   []float32 `json:"-"`
}

const (
	stateJSON    = "checkpoint.json"
	stateTensors = "checkpoint.safetensors"
)

// SaveState writes st into dir atomically: the files are written under
// temporary names and renamed, so a crash never leaves a torn checkpoint
// and the previous one survives a failed save.
func SaveState(dir string, st *State) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var tensors bytes.Buffer
	err := safetensors.Write(&tensors, []safetensors.WriteTensor{
		f32Tensor("params", st.Params), f32Tensor("m", st.M), f32Tensor("v", st.V),
	}, nil)
	if err != nil {
		return err
	}
	meta, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, stateTensors), tensors.Bytes()); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateJSON), meta)
}

// LoadState reads a checkpoint written by SaveState.
func LoadState(dir string) (*State, error) {
	meta, err := os.ReadFile(filepath.Join(dir, stateJSON))
	if err != nil {
		return nil, fmt.Errorf("train: no checkpoint in %s: %w", dir, err)
	}
	st := &State{}
	if err := json.Unmarshal(meta, st); err != nil {
		return nil, fmt.Errorf("train: %s: %w", filepath.Join(dir, stateJSON), err)
	}
	if st.Set == nil {
		return nil, fmt.Errorf("train: %s names no PEFT methods", filepath.Join(dir, stateJSON))
	}
	raw, err := os.ReadFile(filepath.Join(dir, stateTensors))
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Open(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", filepath.Join(dir, stateTensors), err)
	}
	for _, x := range []struct {
		name string
		dst  *[]float32
	}{{"params", &st.Params}, {"m", &st.M}, {"v", &st.V}} {
		info, err := f.Tensor(x.name)
		if err != nil {
			return nil, err
		}
		if *x.dst, err = f.ReadF32(info, 0, 1); err != nil {
			return nil, err
		}
		if len(*x.dst) != st.Set.Size {
			return nil, fmt.Errorf("train: checkpoint %s holds %d values for a layout of %d", x.name, len(*x.dst), st.Set.Size)
		}
	}
	return st, nil
}

func f32Tensor(name string, v []float32) safetensors.WriteTensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return safetensors.WriteTensor{Name: name, DType: safetensors.F32, Shape: []int64{int64(len(v))}, Data: b}
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
