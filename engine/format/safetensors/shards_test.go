package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// shardFiles writes three shards and their index into dir.
func shardFiles(t *testing.T, dir string) (map[string]string, []WriteTensor) {
	t.Helper()
	f32 := func(vals ...float32) []byte { b, _ := EncodeF32(F32, vals); return b }
	tensors := []WriteTensor{
		{"model.embed_tokens.weight", F32, []int64{2, 2}, f32(1, 2, 3, 4)},
		{"model.layers.0.self_attn.q_proj.weight", F32, []int64{2}, f32(5, 6)},
		{"model.layers.1.self_attn.q_proj.weight", F32, []int64{1}, f32(7)},
		{"model.norm.weight", F32, []int64{}, f32(8)},
		{"lm_head.weight", F32, []int64{1, 1}, f32(9)},
	}
	shardOf := []string{"model-00001-of-00003.safetensors", "model-00001-of-00003.safetensors",
		"model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model-00003-of-00003.safetensors"}
	weightMap := map[string]string{}
	for _, shard := range slices.Compact(slices.Clone(shardOf)) {
		var in []WriteTensor
		for i, s := range shardOf {
			if s == shard {
				in = append(in, tensors[i])
				weightMap[tensors[i].Name] = shard
			}
		}
		writeFile(t, filepath.Join(dir, shard), in)
	}
	writeIndex(t, dir, weightMap)
	return weightMap, tensors
}

func writeFile(t *testing.T, path string, tensors []WriteTensor) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeIndex(t *testing.T, dir string, weightMap map[string]string) {
	t.Helper()
	js, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 36}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, IndexFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestShards(t *testing.T) {
	dir := t.TempDir()
	_, tensors := shardFiles(t, dir)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Shards) != 3 {
		t.Fatalf("%d shards", len(c.Shards))
	}
	var want []string
	for _, w := range tensors {
		want = append(want, w.Name)
		f, ti, err := c.Tensor(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.ReadF32(ti, 0, ti.Rows())
		if err != nil {
			t.Fatal(err)
		}
		if wantVals, _ := EncodeF32(F32, got); string(wantVals) != string(w.Data) {
			t.Errorf("%s: %v", w.Name, got)
		}
	}
	slices.Sort(want)
	if !slices.Equal(c.Names(), want) {
		t.Errorf("names %v, want %v", c.Names(), want)
	}
	if _, _, err := c.Tensor("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing tensor: %v", err)
	}
}

func TestSingleFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, SingleFile), []WriteTensor{{"a", BF16, []int64{1}, []byte{0x80, 0x3f}}})
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, ti, err := c.Tensor("a")
	if err != nil {
		t.Fatal(err)
	}
	if x, err := f.ReadF32(ti, 0, 1); err != nil || x[0] != 1 {
		t.Fatalf("%v %v", x, err)
	}
}

func TestShardsDisagree(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, dir string, weightMap map[string]string)
		want string
	}{
		{"no files", func(t *testing.T, dir string, _ map[string]string) {
			os.Remove(filepath.Join(dir, IndexFile))
		}, "found neither"},
		{"missing shard", func(t *testing.T, dir string, _ map[string]string) {
			os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors"))
		}, "model-00002-of-00003.safetensors"},
		{"wrong shard", func(t *testing.T, dir string, m map[string]string) {
			m["model.norm.weight"] = "model-00001-of-00003.safetensors"
			writeIndex(t, dir, m)
		}, `puts tensor "model.norm.weight" in model-00001-of-00003.safetensors`},
		{"unlisted tensor", func(t *testing.T, dir string, m map[string]string) {
			delete(m, "lm_head.weight")
			writeIndex(t, dir, m)
		}, `holds tensor "lm_head.weight", which model.safetensors.index.json does not list`},
		{"tensor in two shards", func(t *testing.T, dir string, _ map[string]string) {
			writeFile(t, filepath.Join(dir, "model-00002-of-00003.safetensors"),
				[]WriteTensor{{"model.norm.weight", F32, nil, make([]byte, 4)}, {"model.layers.1.self_attn.q_proj.weight", F32, []int64{1}, make([]byte, 4)}})
		}, `"model.norm.weight" is in both`},
		{"corrupt shard", func(t *testing.T, dir string, _ map[string]string) {
			os.WriteFile(filepath.Join(dir, "model-00003-of-00003.safetensors"), []byte("junk"), 0o644)
		}, "model-00003-of-00003.safetensors: safetensors: file is 4 bytes"},
		{"bad index", func(t *testing.T, dir string, _ map[string]string) {
			os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map":{"a":"x","a":"y"}}`), 0o644)
		}, `weight_map: duplicate key "a"`},
		{"no weight map", func(t *testing.T, dir string, _ map[string]string) {
			os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"metadata":{}}`), 0o644)
		}, `no "weight_map"`},
		{"escaping path", func(t *testing.T, dir string, m map[string]string) {
			m["lm_head.weight"] = "../x.safetensors"
			writeIndex(t, dir, m)
		}, "invalid argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			weightMap, _ := shardFiles(t, dir)
			tc.edit(t, dir, weightMap)
			c, err := OpenDir(dir)
			if err == nil {
				c.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOpenFSMap: any fs.FS whose files implement io.ReaderAt works, as a
// browser-side one over File objects would.
func TestOpenFSMap(t *testing.T) {
	b := writeBytes(t, []WriteTensor{{"x", F16, []int64{2}, []byte{0, 0x3c, 0, 0xc0}}}, nil)
	c, err := OpenFS(fstest.MapFS{SingleFile: {Data: b}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, ti, _ := c.Tensor("x")
	if x, err := f.ReadF32(ti, 0, 1); err != nil || x[0] != 1 || x[1] != -2 {
		t.Fatalf("%v %v", x, err)
	}
}
