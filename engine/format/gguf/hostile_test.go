package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// rawFile assembles GGUF bytes by hand, so tests can write what Builder
// refuses to.
type rawFile struct{ b []byte }

func header(version uint32, nTensors, nKV uint64) *rawFile {
	r := &rawFile{b: []byte("GGUF")}
	return r.u32(version).u64(nTensors).u64(nKV)
}

func (r *rawFile) u32(v uint32) *rawFile { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *rawFile) u64(v uint64) *rawFile { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *rawFile) str(s string) *rawFile { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }
func (r *rawFile) zeros(n int) *rawFile  { r.b = append(r.b, make([]byte, n)...); return r }

// kv appends a key, a value type and the value's bytes.
func (r *rawFile) kv(key string, t ValueType, value ...byte) *rawFile {
	r.str(key).u32(uint32(t))
	r.b = append(r.b, value...)
	return r
}

// tensor appends a tensor info with ggml type typ.
func (r *rawFile) tensor(name string, typ uint32, offset uint64, dims ...uint64) *rawFile {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(offset)
}

// data pads to 32 bytes and appends n bytes of tensor data.
func (r *rawFile) data(n int) *rawFile {
	r.zeros((32 - len(r.b)%32) % 32)
	return r.zeros(n)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// arrayHead is an array value's element type and count.
func arrayHead(t ValueType, n uint64) []byte { return append(le32(uint32(t)), le64(n)...) }

const f32ID, q8ID = 0, 8

// hostileFiles pairs broken files with a fragment the error must contain.
func hostileFiles() []struct {
	name string
	data []byte
	want string
} {
	nested := arrayHead(TypeArray, 1)
	for range maxNesting + 2 {
		nested = append(nested, arrayHead(TypeArray, 1)...)
	}
	return []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "not a GGUF file"},
		{"wrong magic", append([]byte("GGML"), make([]byte, 20)...), `magic "GGML"`},
		{"version 1", header(1, 0, 0).b, "version 1 is not supported"},
		{"version 4", header(4, 0, 0).b, "version 4 is not supported"},
		{"big-endian", header(3<<24, 0, 0).b, "big-endian"},
		{"truncated header", header(3, 0, 0).b[:12], "truncated"},
		{"huge kv count", header(3, 0, 1<<60).b, "metadata count"},
		{"huge tensor count", header(3, 1<<60, 0).b, "tensor count"},
		{"huge key length", header(3, 0, 1).u64(10 << 30).zeros(64).b, "metadata key 0: string length 10737418240"},
		{"huge string value", header(3, 0, 1).kv("name", TypeString, le64(10<<30)...).b, `metadata key "name": string length 10737418240`},
		{"huge array", header(3, 0, 1).kv("arr", TypeArray, arrayHead(TypeUint32, 1<<40)...).b, `metadata key "arr": array of 1099511627776 uint32s`},
		{"huge string array", header(3, 0, 1).kv("tok", TypeArray, arrayHead(TypeString, 1<<33)...).b, `metadata key "tok": array of 8589934592 strings`},
		{"huge string in array", header(3, 0, 1).kv("tok", TypeArray, append(arrayHead(TypeString, 1), le64(1<<40)...)...).b, `metadata key "tok": string 0: string length`},
		{"unknown value type", header(3, 0, 1).kv("k", 13, 0, 0, 0, 0).b, `metadata key "k": unknown value type 13`},
		{"unknown element type", header(3, 0, 1).kv("k", TypeArray, arrayHead(99, 1)...).b, `metadata key "k": array of unknown value type 99`},
		{"deep nesting", header(3, 0, 1).kv("k", TypeArray, nested...).b, "nested more than 16 deep"},
		{"duplicate key", header(3, 0, 2).kv("k", TypeUint8, 1).kv("k", TypeUint8, 2).b, `duplicate metadata key "k"`},
		{"empty key", header(3, 0, 1).kv("", TypeUint8, 1).b, "metadata key 0 is empty"},
		{"truncated value", header(3, 0, 1).kv("k", TypeUint64, 1, 2, 3).b, "truncated"},
		{"alignment type", header(3, 0, 1).kv(AlignmentKey, TypeUint64, le64(32)...).b, `"general.alignment" is uint64, want uint32`},
		{"alignment 48", header(3, 0, 1).kv(AlignmentKey, TypeUint32, le32(48)...).b, "alignment 48 is not a power of two"},
		{"alignment 0", header(3, 0, 1).kv(AlignmentKey, TypeUint32, le32(0)...).b, "alignment 0 is not a power of two"},
		{"5 dims", header(3, 1, 0).tensor("t", f32ID, 0, 1, 1, 1, 1, 1).data(4).b, `tensor "t": 5 dimensions, at most 4`},
		{"dim over int64", header(3, 1, 0).tensor("t", f32ID, 0, 1<<63).data(4).b, `tensor "t": dimension 0 is 9223372036854775808`},
		{"dims overflow", header(3, 1, 0).tensor("t", f32ID, 0, 1<<32, 1<<32, 4).data(4).b, `tensor "t": shape [4294967296 4294967296 4] has more elements than int64 holds`},
		{"bytes overflow", header(3, 1, 0).tensor("t", f32ID, 0, 1<<62).data(4).b, `tensor "t": F32 [4611686018427387904] overflows`},
		{"bigger than file", header(3, 1, 0).tensor("t", f32ID, 0, 1<<20, 1<<20).data(4).b, `tensor "t": F32 [1048576 1048576] needs 4398046511104 bytes, more than the whole file`},
		{"unsupported type", header(3, 1, 0).tensor("t", 16, 0, 256).data(66).b, `tensor "t": tensor: type IQ2_XXS is not supported`},
		{"unknown type", header(3, 1, 0).tensor("t", 99, 0, 32).data(32).b, `tensor "t": tensor: unknown type id 99`},
		{"partial block", header(3, 1, 0).tensor("t", q8ID, 0, 48).data(68).b, `tensor "t": row length 48 is not a multiple of Q8_0's block length 32`},
		{"data past end", header(3, 1, 0).tensor("t", f32ID, 0, 64).data(200).b, `tensor "t": data at offset 64 + 0 (256 bytes) runs past the end of the file (264 bytes)`},
		{"offset past end", header(3, 1, 0).tensor("t", f32ID, 1<<40, 4).data(16).b, `tensor "t": data at offset`},
		{"offset wraps", header(3, 1, 0).tensor("t", f32ID, math.MaxUint64-31, 8).data(32).b, "runs past the end"},
		{"misaligned", header(3, 2, 0).tensor("a", f32ID, 0, 8).tensor("b", f32ID, 40, 8).data(96).b, `tensor "b": data offset 40 is not a multiple of the alignment 32`},
		{"overlap", header(3, 2, 0).tensor("a", f32ID, 0, 16).tensor("b", f32ID, 32, 8).data(96).b, `tensors "a" [96, 160) and "b" [128, 160) overlap`},
		{"duplicate tensor", header(3, 2, 0).tensor("t", f32ID, 0, 8).tensor("t", f32ID, 32, 8).data(64).b, `duplicate tensor name "t"`},
		{"huge tensor name", header(3, 1, 0).u64(1 << 50).zeros(40).b, "tensor 0: name: string length 1125899906842624"},
		{"truncated info", header(3, 1, 0).tensor("t", f32ID, 0, 8).b[:50], `tensor "t": file truncated`},
	}
}

func TestHostileFiles(t *testing.T) {
	for _, c := range hostileFiles() {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(bytes.NewReader(c.data), int64(len(c.data)))
			if err == nil {
				t.Fatalf("opened: %d keys, %d tensors", len(f.KV), len(f.Tensors))
			}
			if !strings.HasPrefix(err.Error(), "gguf: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// TestHostileSeedsValid checks that the hand-assembled files differ from
// valid ones only in their flaw: the same layouts, fixed, open.
func TestHostileSeedsValid(t *testing.T) {
	valid := [][]byte{
		header(3, 0, 0).b,
		header(2, 0, 1).kv("k", TypeArray, append(arrayHead(TypeString, 1), append(le64(1), 'x')...)...).b,
		header(3, 2, 0).tensor("a", f32ID, 0, 8).tensor("b", f32ID, 32, 8).data(64).b,
		header(3, 1, 0).tensor("scalar", f32ID, 0).data(32).b,
		header(3, 1, 0).tensor("empty", q8ID, 0, 0, 7).data(0).b,
	}
	for i, data := range valid {
		if _, err := Open(bytes.NewReader(data), int64(len(data))); err != nil {
			t.Errorf("valid file %d: %v", i, err)
		}
	}
}

// TestReaderShorterThanSize: a reader that ends before the size it was
// opened with gives a truncation error, not a panic.
func TestReaderShorterThanSize(t *testing.T) {
	data := header(3, 0, 1).kv("k", TypeString, le64(5)...).b
	if _, err := Open(bytes.NewReader(data), int64(len(data))+5); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Open = %v", err)
	}
	if _, err := Open(bytes.NewReader(nil), -1); err == nil {
		t.Error("negative size accepted")
	}
}

// TestReadRangeChecks: row ranges outside a tensor, and hand-made infos
// pointing outside the file, are errors.
func TestReadRangeChecks(t *testing.T) {
	data := header(3, 1, 0).tensor("t", f32ID, 0, 4, 3).data(48).b
	f := openBytes(t, data)
	ti, ok := f.Tensor("t")
	if !ok {
		t.Fatal("tensor t not found")
	}
	if _, ok := f.Tensor("missing"); ok {
		t.Error("missing tensor found")
	}
	for _, r := range [][2]int{{-1, 1}, {0, 4}, {3, 1}, {2, -1}, {math.MaxInt, 1}} {
		if _, err := f.ReadRaw(ti, r[0], r[1]); err == nil {
			t.Errorf("rows %d+%d accepted", r[0], r[1])
		}
	}
	if err := f.ReadRawInto(make([]byte, 15), ti, 0, 1); err == nil {
		t.Error("short buffer accepted")
	}
	bad := []TensorInfo{
		{Name: "far", Type: 0, Shape: []uint64{4, 3}, Offset: 1 << 62, Size: 48},
		{Name: "past", Type: 0, Shape: []uint64{4, 3}, Offset: 128, Size: 48},
		{Name: "lying", Type: 0, Shape: []uint64{4, 3}, Offset: 64, Size: 8},
		{Name: "badtype", Type: 16, Shape: []uint64{256}, Offset: 64, Size: 66},
	}
	for _, b := range bad {
		if _, err := f.ReadF32(&b, 0, int(b.Rows())); err == nil {
			t.Errorf("%s: read", b.Name)
		}
	}
	if _, err := f.ReadRaw(nil, 0, 0); err == nil {
		t.Error("nil tensor accepted")
	}
}
