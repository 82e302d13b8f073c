package safetensors

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzOpen: Open never panics, and whatever it accepts is internally
// consistent: every tensor reads back whole, and writing the tensors out
// again gives a file that opens to the same index.
func FuzzOpen(f *testing.F) {
	f.Add(fileOf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(fileOf(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},"e":{"dtype":"I64","shape":[0],"data_offsets":[4,4]}}`, 4))
	f.Add(fileOf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := openBytes(b)
		if err != nil {
			return
		}
		var again []WriteTensor
		for i := range file.Tensors {
			ti := &file.Tensors[i]
			data, err := file.ReadRaw(ti, 0, ti.Rows())
			if err != nil {
				if ti.DType.Size() != 0 { // F4/F6 rows need not be whole bytes
					t.Fatalf("%s: %v", ti.Name, err)
				}
				data = b[ti.Begin:ti.End]
			}
			if ti.DType.isFloat() {
				if _, err := file.ReadF32(ti, 0, ti.Rows()); err != nil {
					t.Fatalf("%s: %v", ti.Name, err)
				}
			}
			again = append(again, WriteTensor{ti.Name, ti.DType, ti.Shape, data})
		}
		var buf bytes.Buffer
		if err := Write(&buf, again, file.Metadata); err != nil {
			t.Fatalf("rewriting an accepted file: %v", err)
		}
		file2, err := openBytes(buf.Bytes())
		if err != nil {
			t.Fatalf("reopening a rewritten file: %v", err)
		}
		for _, w := range again {
			ti, err := file2.Tensor(w.Name)
			if err != nil || ti.DType != w.DType || !slices.Equal(ti.Shape, w.Shape) || ti.End-ti.Begin != int64(len(w.Data)) {
				t.Fatalf("%s changed on rewrite: %+v %v", w.Name, ti, err)
			}
		}
	})
}
