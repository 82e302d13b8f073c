package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// fileOf builds a file from a literal header (unpadded) and n data bytes
// counting 0, 1, 2, ...
func fileOf(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	for i := range n {
		b = append(b, byte(i))
	}
	return b
}

func openBytes(b []byte) (*File, error) { return Open(bytes.NewReader(b), int64(len(b))) }

func writeBytes(t *testing.T, tensors []WriteTensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// randomTensor makes a tensor of dtype d with up to 4 dimensions, some of
// them 0 (empty tensors), rank 0 (scalars) included.
func randomTensor(rng *rand.Rand, name string, d DType) WriteTensor {
	shape := make([]int64, rng.IntN(5))
	for i := range shape {
		shape[i] = int64(rng.IntN(5))
		if rng.IntN(8) == 0 {
			shape[i] = 0
		}
	}
	n, _ := elements(shape)
	_, bits, _ := d.lookup()
	if n*bits%8 != 0 { // F4/F6: make the element count whole bytes
		shape = append(shape, 8)
		n *= 8
	}
	data := make([]byte, n*bits/8)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return WriteTensor{Name: name, DType: d, Shape: shape, Data: data}
}

func TestRoundTripEveryDType(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		var in []WriteTensor
		for i, d := range dtypeTable {
			if rng.IntN(2) == 0 || trial == 0 {
				in = append(in, randomTensor(rng, string(d.name)+"."+string(rune('a'+i)), d.name))
			}
		}
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		meta := map[string]string{"format": "pt", "trial": string(rune('0' + trial%10))}
		if trial%3 == 0 {
			meta = nil
		}
		b := writeBytes(t, in, meta)
		f, err := openBytes(b)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		checkSame(t, f, in, meta)
	}
}

// checkSame checks that f holds exactly the tensors and metadata given.
func checkSame(t *testing.T, f *File, in []WriteTensor, meta map[string]string) {
	t.Helper()
	if len(f.Tensors) != len(in) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(in))
	}
	if (f.Metadata == nil) != (meta == nil) || len(f.Metadata) != len(meta) {
		t.Fatalf("metadata %v, want %v", f.Metadata, meta)
	}
	for k, v := range meta {
		if f.Metadata[k] != v {
			t.Fatalf("metadata[%q] = %q, want %q", k, f.Metadata[k], v)
		}
	}
	for _, w := range in {
		ti, err := f.Tensor(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ti.DType != w.DType || !slices.Equal(ti.Shape, w.Shape) {
			t.Fatalf("%s: %s %v, want %s %v", w.Name, ti.DType, ti.Shape, w.DType, w.Shape)
		}
		if ti.Begin%8 != 0 && w.DType.Size() == 8 {
			t.Errorf("%s: 8-byte elements at unaligned offset %d", w.Name, ti.Begin)
		}
		got, err := f.ReadRaw(ti, 0, ti.Rows())
		if err != nil && w.DType.Size() != 0 {
			t.Fatal(err)
		}
		if err == nil && !bytes.Equal(got, w.Data) {
			t.Fatalf("%s: data differs", w.Name)
		}
	}
}

// TestWriteMatchesLibrary compares Write's bytes with files the Rust/Python
// safetensors library writes (the expected bytes of its own unit tests).
func TestWriteMatchesLibrary(t *testing.T) {
	f32 := func(vals ...float32) []byte { b, _ := EncodeF32(F32, vals); return b }
	tests := []struct {
		name    string
		tensors []WriteTensor
		meta    map[string]string
		header  string
	}{
		{"empty", nil, nil, `{}      `},
		{"empty with metadata", nil, map[string]string{"framework": "pt"}, `{"__metadata__":{"framework":"pt"}}     `},
		{"one tensor", []WriteTensor{{"attn.0", F32, []int64{1, 2, 3}, f32(0, 1, 2, 3, 4, 5)}}, nil,
			`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`},
		{"padding", []WriteTensor{{"attn0", F32, []int64{1, 1, 2, 3}, f32(0, 1, 2, 3, 4, 5)}}, nil,
			`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `},
		{"order: alignment then name", []WriteTensor{
			{"b", F16, []int64{1}, []byte{1, 2}},
			{"a", F16, []int64{}, []byte{3, 4}},
			{"z", I64, []int64{1}, make([]byte, 8)},
			{"m", BF16, []int64{0}, nil},
		}, nil, `{"z":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"m":{"dtype":"BF16","shape":[0],"data_offsets":[8,8]},` +
			`"a":{"dtype":"F16","shape":[],"data_offsets":[8,10]},"b":{"dtype":"F16","shape":[1],"data_offsets":[10,12]}}`},
		{"escapes as serde_json", []WriteTensor{{"q\"\\\n\x01<&>é\u2028", U8(), []int64{0}, nil}}, nil,
			`{"q\"\\\n\u0001<&>é` + "\u2028" + `":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}       `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := writeBytes(t, tc.tensors, tc.meta)
			want := binary.LittleEndian.AppendUint64(nil, uint64(len(tc.header)))
			want = append(want, tc.header...)
			order := writeOrder(tc.tensors)
			for _, i := range order {
				want = append(want, tc.tensors[i].Data...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
			if _, err := openBytes(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// U8 is a dtype webpeft indexes but does not read as weights.
func U8() DType { return "U8" }

func TestWriteRefuses(t *testing.T) {
	tests := []struct {
		name    string
		tensors []WriteTensor
		want    string
	}{
		{"duplicate", []WriteTensor{{"a", F32, nil, make([]byte, 4)}, {"a", F32, nil, make([]byte, 4)}}, `"a" given twice`},
		{"reserved", []WriteTensor{{"__metadata__", F32, nil, make([]byte, 4)}}, "reserved"},
		{"size", []WriteTensor{{"a", F32, []int64{2}, make([]byte, 4)}}, "needs 8 bytes"},
		{"dtype", []WriteTensor{{"a", "F12", []int64{}, nil}}, `unknown dtype "F12"`},
		{"negative", []WriteTensor{{"a", F32, []int64{-1}, nil}}, "negative dimension"},
		{"utf8", []WriteTensor{{"a\xff", F32, nil, make([]byte, 4)}}, "not UTF-8"},
	}
	for _, tc := range tests {
		err := Write(&bytes.Buffer{}, tc.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestF16AllBits: every F16 bit pattern survives F16 -> F32 -> F16, NaNs
// staying NaNs with their payload (quieted).
func TestF16AllBits(t *testing.T) {
	testAllBits(t, F16, 0x7c00, 0x0200)
}

// TestBF16AllBits: the same for every BF16 bit pattern.
func TestBF16AllBits(t *testing.T) {
	testAllBits(t, BF16, 0x7f80, 0x0040)
}

func testAllBits(t *testing.T, d DType, expMask, quiet uint16) {
	raw := make([]byte, 2<<16)
	for h := range 1 << 16 {
		binary.LittleEndian.PutUint16(raw[2*h:], uint16(h))
	}
	x := make([]float32, 1<<16)
	if err := DecodeF32(d, x, raw); err != nil {
		t.Fatal(err)
	}
	back, err := EncodeF32(d, x)
	if err != nil {
		t.Fatal(err)
	}
	for h := range 1 << 16 {
		in, out := uint16(h), binary.LittleEndian.Uint16(back[2*h:])
		if isNaN := in&expMask == expMask && in&^(expMask|0x8000) != 0; isNaN {
			if out != in|quiet || !math.IsNaN(float64(x[h])) {
				t.Fatalf("%s NaN %#04x -> %v -> %#04x, want %#04x", d, in, x[h], out, in|quiet)
			}
			continue
		}
		if out != in {
			t.Fatalf("%s %#04x -> %v -> %#04x", d, in, x[h], out)
		}
	}
}

// TestBF16Rounding checks f32ToBF16 against rounding done in float64: the
// nearest bfloat16, ties to the even one, overflow to infinity.
func TestBF16Rounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []uint32{0x3f808000, 0x3f818000, 0x3f80ffff, 0x7f7fffff, 0x7f7f7fff, 0x7f7f8000, 0xff7fffff, 0x00008000, 0x00018000, 0x80000001}
	for range 1 << 20 {
		cases = append(cases, rng.Uint32())
	}
	for _, bits := range cases {
		f := math.Float32frombits(bits)
		if math.IsNaN(float64(f)) {
			continue
		}
		if got, want := f32ToBF16(f), refBF16(f); got != want {
			t.Fatalf("f32ToBF16(%#08x) = %#04x, want %#04x", bits, got, want)
		}
	}
}

// refBF16 rounds by comparing distances in float64, where both candidates
// and their midpoint are exact. Past the largest finite bfloat16 the next
// step up is infinity, which rounds like a value of 2^128 (IEEE 754's rule
// for overflow).
func refBF16(f float32) uint16 {
	lo := uint16(math.Float32bits(f) >> 16) // truncation, toward zero
	hi := lo + 1                            // one step away from zero
	value := func(h uint16) float64 {
		if h&0x7fff == 0x7f80 {
			return math.Copysign(math.Ldexp(1, 128), float64(f))
		}
		return float64(bf16ToF32(h))
	}
	dl := math.Abs(float64(f) - value(lo))
	dh := math.Abs(value(hi) - float64(f))
	switch {
	case dl < dh:
		return lo
	case dh < dl:
		return hi
	case lo&1 == 0:
		return lo
	}
	return hi
}

func TestReadRows(t *testing.T) {
	x := make([]float32, 7*5)
	for i := range x {
		x[i] = float32(i) - 0.5
	}
	var in []WriteTensor
	for _, d := range []DType{F32, F16, BF16} {
		data, _ := EncodeF32(d, x)
		in = append(in, WriteTensor{"w." + string(d), d, []int64{7, 5}, data})
	}
	in = append(in, WriteTensor{"ids", I32, []int64{3}, make([]byte, 12)})
	f, err := openBytes(writeBytes(t, in, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []DType{F32, F16, BF16} {
		ti, _ := f.Tensor("w." + string(d))
		if ti.Rows() != 7 || ti.RowLen() != 5 || ti.Elements() != 35 {
			t.Fatalf("%s: rows %d len %d elements %d", d, ti.Rows(), ti.RowLen(), ti.Elements())
		}
		var all []float32
		for r := int64(0); r < 7; r += 3 {
			rows, err := f.ReadF32(ti, r, min(3, 7-r))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, rows...)
		}
		if !slices.Equal(all, x) { // every value is exact in F16 and BF16
			t.Fatalf("%s: read %v", d, all)
		}
		for _, bad := range [][2]int64{{-1, 1}, {0, 8}, {7, 1}, {3, -1}, {math.MaxInt64, 2}} {
			if _, err := f.ReadRaw(ti, bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("rows %v: %v", bad, err)
			}
		}
	}
	ids, _ := f.Tensor("ids")
	if _, err := f.ReadF32(ids, 0, 1); err == nil || !strings.Contains(err.Error(), `"ids" is I32`) {
		t.Errorf("ReadF32 of I32: %v", err)
	}
	if _, err := f.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor: %v", err)
	}
}

// TestHostile feeds malformed files: each must fail with a clear error,
// never panic or allocate what the header claims.
func TestHostile(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	prefixOnly := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "shorter than the 8-byte header length"},
		{"truncated prefix", []byte{1, 0, 0}, "shorter than the 8-byte"},
		{"truncated data", fileOf(ok, 7), "cover 8 bytes of the 7-byte data section"},
		{"10 GB header length", append(prefixOnly(10<<30), "{}"...), "over the 100000000-byte limit"},
		{"2^64-1 header length", append(prefixOnly(math.MaxUint64), "{}"...), "over the"},
		{"header past the end", append(prefixOnly(100), "{}"...), "past the end"},
		{"zero header", prefixOnly(0), "does not start with '{'"},
		{"bad JSON", fileOf(`{"a":`, 0), "header JSON ends early"},
		{"bad JSON token", fileOf(`{"a":{"dtype":F32}}`, 0), "invalid character"},
		{"not an object", fileOf(`[1,2]   `, 0), "does not start with '{'"},
		{"trailing data", fileOf(`{} {}`, 0), "data after its JSON object"},
		{"not UTF-8", fileOf("{\"\xff\":1}", 0), "not valid UTF-8"},
		{"tensor not an object", fileOf(`{"a":3}`, 0), `tensor "a"`},
		{"offsets past the end", fileOf(`{"a":{"dtype":"F32","shape":[250],"data_offsets":[0,1000]}}`, 8), "cover 1000 bytes of the 8-byte"},
		{"overlapping", fileOf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12),
			`"b" starts at data offset 4 but tensor "a" ends at 8`},
		{"same range twice", fileOf(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8),
			"starts at data offset 0 but tensor"},
		{"gap", fileOf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12),
			`"b" starts at data offset 8 but tensor "a" ends at 4`},
		{"leading hole", fileOf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "start of the data section ends at 0"},
		{"trailing bytes", fileOf(ok, 12), "cover 8 bytes of the 12-byte"},
		{"end before begin", fileOf(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "end before they begin"},
		{"wrong byte count", fileOf(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, 8), "needs 4 bytes"},
		{"dims overflow", fileOf(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, 0), "overflows"},
		{"bytes overflow", fileOf(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, 8), "overflow a 64-bit size"},
		{"dim over int64", fileOf(`{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}}`, 4), "not a non-negative integer"},
		{"negative dims", fileOf(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "-1 is not a non-negative integer"},
		{"fractional dims", fileOf(`{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, 4), "1.0 is not"},
		{"exponent offsets", fileOf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4e0]}}`, 4), "4e0 is not"},
		{"string dims", fileOf(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, 4), "is not a number"},
		{"too many dims", fileOf(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,4]}}`, 4), "more than 64 entries"},
		{"three offsets", fileOf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, 4), "more than 2 entries"},
		{"one offset", fileOf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, 4), "must be [begin, end]"},
		{"unknown dtype", fileOf(`{"a":{"dtype":"Q4_0","shape":[1],"data_offsets":[0,4]}}`, 4), `unknown dtype "Q4_0"`},
		{"dtype not a string", fileOf(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 4), "dtype is 4"},
		{"no dtype", fileOf(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), `"a" has no dtype`},
		{"no shape", fileOf(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), `"a" has no shape`},
		{"sub-byte size", fileOf(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, 2), "not a whole number of bytes"},
		{"duplicate tensor", fileOf(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8),
			`duplicate key "a"`},
		{"duplicate field", fileOf(`{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, 4), `duplicate key "dtype"`},
		{"duplicate metadata", fileOf(`{"__metadata__":{},"__metadata__":{}}`, 0), `duplicate key "__metadata__"`},
		{"metadata not strings", fileOf(`{"__metadata__":{"n":1}}`, 0), `__metadata__["n"] is 1`},
		{"metadata not an object", fileOf(`{"__metadata__":[]}`, 0), "__metadata__"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openBytes(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
}

// TestAccepts covers odd but valid headers.
func TestAccepts(t *testing.T) {
	tests := []struct {
		name string
		file []byte
	}{
		{"null metadata", fileOf(`{"__metadata__":null}`, 0)},
		{"whitespace and newlines", fileOf("{ \"a\" : {\"shape\":[ 1 ],\n\"dtype\":\"U8\", \"data_offsets\":[0, 1]} }\n\t ", 1)},
		{"unknown field", fileOf(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":{"x":[1]}}}`, 1)},
		{"header order differs from offsets", fileOf(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 2)},
		{"empty tensors share an offset", fileOf(`{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"f":{"dtype":"F64","shape":[2,0],"data_offsets":[0,0]}}`, 0)},
		{"big dims times zero", fileOf(`{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, 0)},
		{"sub-byte tensor", fileOf(`{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}`, 2)},
	}
	for _, tc := range tests {
		f, err := openBytes(tc.file)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for i := 1; i < len(f.Tensors); i++ {
			if f.Tensors[i].Begin < f.Tensors[i-1].End {
				t.Errorf("%s: tensors not sorted by offset", tc.name)
			}
		}
	}
}
