package gguf

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// modelsDir holds the tiny models llama.cpp made (see its README.md).
const modelsDir = "../../../testdata/models"

// wantTensor is one entry of an X.tensors.json: what llama.cpp's tools
// say the tensor is and the SHA-256 of its values as little-endian f32.
type wantTensor struct {
	Type      string    `json:"type"`
	Shape     []uint64  `json:"shape"`
	SHA256F32 string    `json:"sha256_f32"`
	First     []float64 `json:"first"`
}

func modelFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(modelsDir, "*.gguf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test models in %s (%v)", modelsDir, err)
	}
	return files
}

func openFile(t testing.TB, path string) *File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(fh, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// TestModelsDecodeExactly decodes every tensor of every test model and
// compares its type, shape and value hash with the model's tensors.json.
func TestModelsDecodeExactly(t *testing.T) {
	for _, path := range modelFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f := openFile(t, path)
			want := readWant(t, strings.TrimSuffix(path, ".gguf")+".tensors.json")
			if len(f.Tensors) != len(want) {
				t.Errorf("%d tensors, tensors.json lists %d", len(f.Tensors), len(want))
			}
			for i := range f.Tensors {
				checkTensor(t, f, &f.Tensors[i], want)
			}
		})
	}
}

func readWant(t *testing.T, path string) map[string]wantTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]wantTensor
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return want
}

func checkTensor(t *testing.T, f *File, ti *TensorInfo, want map[string]wantTensor) {
	w, ok := want[ti.Name]
	if !ok {
		t.Errorf("tensor %q is not in tensors.json", ti.Name)
		return
	}
	if ti.Type.String() != w.Type || !slices.Equal(ti.Shape, w.Shape) {
		t.Errorf("%s: %v %v, want %s %v", ti.Name, ti.Type, ti.Shape, w.Type, w.Shape)
	}
	vals, err := f.ReadF32(ti, 0, int(ti.Rows()))
	if err != nil {
		t.Fatal(err)
	}
	if got := hashF32(vals); got != w.SHA256F32 {
		t.Errorf("%s (%v): sha256 of decoded values %s, want %s", ti.Name, ti.Type, got, w.SHA256F32)
	}
	for i, v := range w.First {
		if float64(vals[i]) != v {
			t.Errorf("%s: value %d = %g, want %g", ti.Name, i, vals[i], v)
			break
		}
	}
}

// hashF32 is the SHA-256 of vals as little-endian float32 bytes.
func hashF32(vals []float32) string {
	h := sha256.New()
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
