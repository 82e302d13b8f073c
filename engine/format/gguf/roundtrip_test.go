package gguf

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"webpeft/engine/tensor"
)

// allValues has a metadata entry of every GGUF value type: each scalar,
// each array type (empty ones too) and arrays of arrays.
func allValues() []KV {
	return []KV{
		{"u8", uint8(200)},
		{"i8", int8(-100)},
		{"u16", uint16(60000)},
		{"i16", int16(-30000)},
		{"u32", uint32(4000000000)},
		{"i32", int32(-2000000000)},
		{"f32", float32(3.25)},
		{"f32.nan", float32(math.NaN())},
		{"bool.true", true},
		{"bool.false", false},
		{"str", "héllo, GGUF"},
		{"str.empty", ""},
		{"u64", uint64(math.MaxUint64)},
		{"i64", int64(math.MinInt64)},
		{"f64", math.Pi},
		{"a.u8", []uint8{0, 1, 255}},
		{"a.i8", []int8{-128, 0, 127}},
		{"a.u16", []uint16{0, 65535}},
		{"a.i16", []int16{-32768, 32767}},
		{"a.u32", []uint32{0, math.MaxUint32}},
		{"a.i32", []int32{math.MinInt32, -1, 0, math.MaxInt32}},
		{"a.f32", []float32{-1.5, 0, float32(math.Inf(1))}},
		{"a.bool", []bool{true, false, true}},
		{"a.str", []string{"a", "", "ünïcode", "<0x0A>"}},
		{"a.u64", []uint64{math.MaxUint64, 0}},
		{"a.i64", []int64{math.MinInt64, math.MaxInt64}},
		{"a.f64", []float64{math.SmallestNonzeroFloat64, -0.0}},
		{"a.empty", []int32{}},
		{"a.empty.str", []string{}},
		{"a.nested", []any{[]int32{1, 2}, []string{"x"}, []any{[]float64{2.5}, []bool{}}, []uint8{}}},
		{"a.nested.empty", []any{}},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	b := NewBuilder()
	for _, kv := range allValues() {
		if err := b.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	f := openBytes(t, build(t, b))
	if f.Version != 3 || f.Alignment != DefaultAlignment || len(f.Tensors) != 0 {
		t.Errorf("version %d, alignment %d, %d tensors", f.Version, f.Alignment, len(f.Tensors))
	}
	want := allValues()
	if len(f.KV) != len(want) {
		t.Fatalf("%d entries, want %d", len(f.KV), len(want))
	}
	for i, kv := range want {
		got := f.KV[i]
		if got.Key != kv.Key || !sameValue(got.Value, kv.Value) || got.Type() != kv.Type() {
			t.Errorf("entry %d: %s = %#v (%v), want %s = %#v (%v)", i, got.Key, got.Value, got.Type(), kv.Key, kv.Value, kv.Type())
		}
	}
}

// sameValue is reflect.DeepEqual, with NaN equal to NaN.
func sameValue(a, b any) bool {
	if x, ok := a.(float32); ok {
		if y, ok := b.(float32); ok && x != x && y != y {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}

func TestAccessors(t *testing.T) {
	b := NewBuilder()
	for _, kv := range allValues() {
		b.AddKV(kv.Key, kv.Value)
	}
	f := openBytes(t, build(t, b))
	checks := []struct {
		name string
		got  any
		ok   bool
		want any
	}{
		{"String(str)", first(f.String("str")), second(f.String("str")), "héllo, GGUF"},
		{"Int(u8)", first(f.Int("u8")), second(f.Int("u8")), int64(200)},
		{"Int(i64)", first(f.Int("i64")), second(f.Int("i64")), int64(math.MinInt64)},
		{"Int(u32)", first(f.Int("u32")), second(f.Int("u32")), int64(4000000000)},
		{"Float(f32)", first(f.Float("f32")), second(f.Float("f32")), 3.25},
		{"Float(i16)", first(f.Float("i16")), second(f.Float("i16")), -30000.0},
		{"Bool(bool.true)", first(f.Bool("bool.true")), second(f.Bool("bool.true")), true},
		{"Strings(a.str)", first(f.Strings("a.str")), second(f.Strings("a.str")), []string{"a", "", "ünïcode", "<0x0A>"}},
		{"Float32s(a.f32)", first(f.Float32s("a.f32")), second(f.Float32s("a.f32")), []float32{-1.5, 0, float32(math.Inf(1))}},
		{"Int32s(a.i8)", first(f.Int32s("a.i8")), second(f.Int32s("a.i8")), []int32{-128, 0, 127}},
		{"Int32s(a.u16)", first(f.Int32s("a.u16")), second(f.Int32s("a.u16")), []int32{0, 65535}},
	}
	for _, c := range checks {
		if !c.ok || !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, %v; want %#v", c.name, c.got, c.ok, c.want)
		}
	}
	refused := map[string]bool{
		"Int(u64)":        second(f.Int("u64")), // MaxUint64 does not fit
		"Int(str)":        second(f.Int("str")),
		"String(u8)":      second(f.String("u8")),
		"String(missing)": second(f.String("missing")),
		"Int32s(a.u32)":   second(f.Int32s("a.u32")), // MaxUint32 does not fit
		"Int32s(a.i64)":   second(f.Int32s("a.i64")),
		"Strings(a.i32)":  second(f.Strings("a.i32")),
		"Float32s(a.i32)": second(f.Float32s("a.i32")),
		"Bool(u8)":        second(f.Bool("u8")),
	}
	for name, ok := range refused {
		if ok {
			t.Errorf("%s succeeded", name)
		}
	}
}

func first[T any](v T, _ bool) T      { return v }
func second[T any](_ T, ok bool) bool { return ok }

// TestTensorRoundTrip writes a tensor of every supported type (encoded
// from random values where an encoder exists, random blocks otherwise)
// and reads it back whole and in row chunks.
func TestTensorRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type want struct {
		typ   tensor.Type
		shape []uint64
		raw   []byte
	}
	var wants []want
	b := NewBuilder()
	b.AddKV("general.architecture", "llama")
	for _, typ := range tensor.SupportedTypes() {
		shape := []uint64{512, 3, 2}
		raw := tensorBytes(t, rng, typ, 512*6)
		name := "t." + typ.String()
		if err := b.AddTensor(name, typ, shape, raw); err != nil {
			t.Fatal(err)
		}
		wants = append(wants, want{typ, shape, raw})
	}
	f := openBytes(t, build(t, b))
	for i, w := range wants {
		ti := &f.Tensors[i]
		if ti.Type != w.typ || !reflect.DeepEqual(ti.Shape, w.shape) || ti.Offset%DefaultAlignment != 0 {
			t.Errorf("%s: %v %v at %d", ti.Name, ti.Type, ti.Shape, ti.Offset)
		}
		whole, err := f.ReadRaw(ti, 0, 6)
		if err != nil || !bytes.Equal(whole, w.raw) {
			t.Fatalf("%s: raw data differs (%v)", ti.Name, err)
		}
		checkChunks(t, f, ti, w.raw)
	}
}

// checkChunks reads ti two rows at a time, raw and decoded, and compares
// with the whole.
func checkChunks(t *testing.T, f *File, ti *TensorInfo, raw []byte) {
	t.Helper()
	all := make([]float32, ti.Elements())
	if err := tensor.DecodeRows(ti.Type, all, raw); err != nil {
		t.Fatal(err)
	}
	rb, rl := int(ti.RowBytes()), int(ti.RowLen())
	buf := make([]byte, 2*rb)
	for r := 0; r < int(ti.Rows()); r += 2 {
		if err := f.ReadRawInto(buf, ti, r, 2); err != nil || !bytes.Equal(buf, raw[r*rb:(r+2)*rb]) {
			t.Fatalf("%s rows %d-%d: raw chunk differs (%v)", ti.Name, r, r+1, err)
		}
		vals, err := f.ReadF32(ti, r, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if math.Float32bits(v) != math.Float32bits(all[r*rl+i]) {
				t.Fatalf("%s row %d: value %d = %g, whole-tensor decode %g", ti.Name, r, i, v, all[r*rl+i])
			}
		}
	}
}

// tensorBytes returns n values of type typ: random normals encoded where
// typ has an encoder, otherwise random blocks with finite f16 scales.
func tensorBytes(t *testing.T, rng *rand.Rand, typ tensor.Type, n int) []byte {
	size, err := typ.RowBytes(n)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, size)
	if tensor.CanEncode(typ) {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if err := tensor.EncodeRows(typ, raw, x); err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for i := range raw {
		raw[i] = byte(rng.Uint32() & 0x3b) // clears f16 bits 14 and 10 in every byte: finite scales
	}
	return raw
}

// TestRewriteModelsIdentically rebuilds every test model from what Open
// read (metadata in order, tensors' raw data) and checks the Builder
// writes the very same bytes llama.cpp and gguf-py wrote.
func TestRewriteModelsIdentically(t *testing.T) {
	for _, path := range modelFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := openBytes(t, orig)
			b := NewBuilder()
			for _, kv := range f.KV {
				if err := b.AddKV(kv.Key, kv.Value); err != nil {
					t.Fatal(err)
				}
			}
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				raw := orig[ti.Offset : ti.Offset+ti.Size]
				if err := b.AddTensor(ti.Name, ti.Type, ti.Shape, raw); err != nil {
					t.Fatal(err)
				}
			}
			if got := build(t, b); !bytes.Equal(got, orig) {
				t.Errorf("rewritten file differs: %d bytes, first difference at %d of %d", len(got), firstDiff(got, orig), len(orig))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestAlignmentKey(t *testing.T) {
	b := NewBuilder()
	if err := b.AddKV(AlignmentKey, uint32(64)); err != nil {
		t.Fatal(err)
	}
	b.AddTensor("a", tensor.F32, []uint64{3}, make([]byte, 12))
	b.AddTensor("b", tensor.F32, []uint64{5}, make([]byte, 20))
	data := build(t, b)
	f := openBytes(t, data)
	if f.Alignment != 64 || f.DataOffset%64 != 0 || f.Tensors[1].Offset != f.DataOffset+64 || len(data)%64 != 0 {
		t.Errorf("alignment %d, data at %d, second tensor at %d, file %d bytes", f.Alignment, f.DataOffset, f.Tensors[1].Offset, len(data))
	}
	for _, v := range []any{uint32(48), uint32(0), uint64(64), int32(64)} {
		if err := NewBuilder().AddKV(AlignmentKey, v); err == nil {
			t.Errorf("alignment %T %v accepted", v, v)
		}
	}
}

func TestBuilderRefuses(t *testing.T) {
	long := strings.Repeat("x", 64)
	cases := map[string]func(b *Builder) error{
		"empty key":        func(b *Builder) error { return b.AddKV("", uint8(1)) },
		"duplicate key":    func(b *Builder) error { b.AddKV("k", uint8(1)); return b.AddKV("k", uint8(2)) },
		"int value":        func(b *Builder) error { return b.AddKV("k", 1) },
		"struct value":     func(b *Builder) error { return b.AddKV("k", struct{}{}) },
		"scalar in nested": func(b *Builder) error { return b.AddKV("k", []any{[]int32{1}, int32(2)}) },
		"duplicate tensor": func(b *Builder) error {
			b.AddTensor("t", tensor.F32, []uint64{1}, make([]byte, 4))
			return b.AddTensor("t", tensor.F32, []uint64{1}, make([]byte, 4))
		},
		"long name":        func(b *Builder) error { return b.AddTensor(long, tensor.F32, []uint64{1}, make([]byte, 4)) },
		"no dims":          func(b *Builder) error { return b.AddTensor("t", tensor.F32, nil, nil) },
		"5 dims":           func(b *Builder) error { return b.AddTensor("t", tensor.F32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)) },
		"partial block":    func(b *Builder) error { return b.AddTensor("t", tensor.Q8_0, []uint64{16}, make([]byte, 34)) },
		"unsupported type": func(b *Builder) error { return b.AddTensor("t", tensor.Type(16), []uint64{256}, nil) },
		"overflowing dims": func(b *Builder) error { return b.AddTensor("t", tensor.F32, []uint64{1 << 32, 1 << 32}, nil) },
	}
	for name, add := range cases {
		if err := add(NewBuilder()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, data := range map[string][]byte{"short data": make([]byte, 8), "long data": make([]byte, 16)} {
		b := NewBuilder()
		b.AddTensor("t", tensor.F32, []uint64{3}, data)
		if _, err := b.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), `tensor "t"`) {
			t.Errorf("%s: WriteTo = %v", name, err)
		}
	}
}

func build(t testing.TB, b *Builder) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func openBytes(t testing.TB, data []byte) *File {
	t.Helper()
	f, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(fmt.Errorf("reading back: %w", err))
	}
	return f
}
