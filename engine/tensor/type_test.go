package tensor

import (
	"math"
	"strings"
	"testing"
)

func TestTypeGeometry(t *testing.T) {
	cases := []struct {
		t          Type
		id         uint32
		name       string
		bl, bb     int
		canEncode  bool
		rowOf256   int
		parseAlias string
	}{
		{F32, 0, "F32", 1, 4, true, 1024, "f32"},
		{F16, 1, "F16", 1, 2, true, 512, "f16"},
		{Q4_0, 2, "Q4_0", 32, 18, true, 144, "q4_0"},
		{Q4_1, 3, "Q4_1", 32, 20, true, 160, "q4_1"},
		{Q5_0, 6, "Q5_0", 32, 22, true, 176, "q5_0"},
		{Q5_1, 7, "Q5_1", 32, 24, true, 192, "q5_1"},
		{Q8_0, 8, "Q8_0", 32, 34, true, 272, "q8_0"},
		{Q4_K, 12, "Q4_K", 256, 144, true, 144, "q4_k"},
		{Q5_K, 13, "Q5_K", 256, 176, true, 176, "q5_k"},
		{Q6_K, 14, "Q6_K", 256, 210, true, 210, "q6_k"},
		{IQ4_NL, 20, "IQ4_NL", 32, 18, true, 144, "iq4_nl"},
		{BF16, 30, "BF16", 1, 2, true, 512, "bf16"},
	}
	if got := len(SupportedTypes()); got != len(cases) {
		t.Errorf("%d supported types, want %d", got, len(cases))
	}
	for _, c := range cases {
		if uint32(c.t) != c.id || c.t.String() != c.name || c.t.BlockLen() != c.bl || c.t.BlockBytes() != c.bb {
			t.Errorf("%v: id %d, block %d values in %d bytes; want %s id %d, %d in %d",
				c.t, uint32(c.t), c.t.BlockLen(), c.t.BlockBytes(), c.name, c.id, c.bl, c.bb)
		}
		if CanEncode(c.t) != c.canEncode || !c.t.Supported() || c.t.Check() != nil {
			t.Errorf("%v: CanEncode %v Supported %v Check %v", c.t, CanEncode(c.t), c.t.Supported(), c.t.Check())
		}
		if n, err := c.t.RowBytes(256); err != nil || n != c.rowOf256 {
			t.Errorf("%v.RowBytes(256) = %d, %v; want %d", c.t, n, err, c.rowOf256)
		}
		if p, err := ParseType(c.parseAlias); err != nil || p != c.t {
			t.Errorf("ParseType(%q) = %v, %v", c.parseAlias, p, err)
		}
	}
}

func TestUnsupportedTypesRefusedByName(t *testing.T) {
	for _, c := range []struct {
		t    Type
		want string
	}{
		{16, "IQ2_XXS is not supported"},
		{10, "Q2_K is not supported"},
		{28, "F64 is not supported"},
		{4, "Q4_2 is not supported"},
		{39, "MXFP4 is not supported"},
		{99, "unknown type id 99"},
		{1 << 31, "unknown type id 2147483648"},
	} {
		err := c.t.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Type(%d).Check() = %v, want %q", uint32(c.t), err, c.want)
		}
		if _, err := c.t.RowBytes(256); err == nil {
			t.Errorf("Type(%d).RowBytes accepted", uint32(c.t))
		}
		if err := DecodeRows(c.t, make([]float32, 256), make([]byte, 256)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeRows(Type(%d)) = %v, want %q", uint32(c.t), err, c.want)
		}
	}
	if _, err := ParseType("IQ2_XXS"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("ParseType(IQ2_XXS) = %v", err)
	}
	if _, err := ParseType("Q9_9"); err == nil || !strings.Contains(err.Error(), "unknown type name") {
		t.Errorf("ParseType(Q9_9) = %v", err)
	}
	if s := Type(77).String(); s != "Type(77)" {
		t.Errorf("Type(77).String() = %q", s)
	}
}

func TestRowBytesErrors(t *testing.T) {
	for _, c := range []struct {
		t Type
		n int
	}{
		{Q4_K, 128}, {Q8_0, 33}, {Q8_0, -32}, {F32, -1}, {F32, int(^uint(0) >> 2)},
	} {
		if b, err := c.t.RowBytes(c.n); err == nil {
			t.Errorf("%v.RowBytes(%d) = %d, want an error", c.t, c.n, b)
		}
	}
}

func TestCodecLengthsChecked(t *testing.T) {
	if err := DecodeRows(Q6_K, make([]float32, 256), make([]byte, 209)); err == nil {
		t.Error("short Q6_K block accepted")
	}
	if err := EncodeRows(Q4_K, make([]byte, 144), make([]float32, 128)); err == nil {
		t.Error("Q4_K with half a block accepted")
	}
	if err := EncodeRows(F16, make([]byte, 3), make([]float32, 2)); err == nil {
		t.Error("F16 with 3 bytes for 2 values accepted")
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{1 + 1.0/256, 0x3f80},  // tie, even stays down
		{1 + 3.0/256, 0x3f82},  // tie, odd goes up
		{3.4028235e38, 0x7f80}, // rounds up to infinity
		{math.Float32frombits(0x00000001), 0x0000},
		{math.Float32frombits(0x7fc00001), 0x7fc0},
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN made quiet
	}
	for _, c := range cases {
		if got := F32ToBF16(c.f); got != c.h {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if BF16ToF32(0x3f80) != 1 || BF16ToF32(0xc000) != -2 {
		t.Error("BF16ToF32")
	}
}

// TestEncodeDecodeRoundTrip bounds each encoder's error on smooth data.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%97)/24 - 2
	}
	bounds := map[Type]float64{F32: 0, F16: 1e-3, BF16: 1e-2, Q8_0: 0.01, Q4_0: 0.3, Q4_1: 0.15, Q5_0: 0.15, Q5_1: 0.08}
	for typ, bound := range bounds {
		raw := make([]byte, mustRowBytes(typ, len(x)))
		if err := EncodeRows(typ, raw, x); err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(x))
		if err := DecodeRows(typ, out, raw); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if d := float64(out[i] - x[i]); d > bound || d < -bound {
				t.Fatalf("%v: x[%d] = %g came back %g", typ, i, x[i], out[i])
			}
		}
	}
}
