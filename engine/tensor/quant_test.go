package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// ramp returns x[j] = j-16 for one block: amax 16, the first element -16.
func ramp() []float32 {
	x := make([]float32, BlockLen)
	for j := range x {
		x[j] = float32(j - 16)
	}
	return x
}

func TestQ8_0Known(t *testing.T) {
	blk := make([]byte, Q8_0.BlockBytes())
	if err := QuantizeQ8_0(blk, ramp()); err != nil {
		t.Fatal(err)
	}
	// d = 16/127 = 0.125984..., which is 0x3008 (0.1259765625) in f16.
	if d := binary.LittleEndian.Uint16(blk); d != 0x3008 {
		t.Errorf("d = %#04x, want 0x3008", d)
	}
	// q = round((j-16) * 127/16), halves away from zero.
	for j := range BlockLen {
		want := int8(math.Round(float64(j-16) * 127 / 16))
		if got := int8(blk[2+j]); got != want {
			t.Errorf("q[%d] = %d, want %d", j, got, want)
		}
	}
	out := make([]float32, BlockLen)
	if err := DecodeQ8_0(out, blk); err != nil {
		t.Fatal(err)
	}
	if out[0] != -127*0.1259765625 || out[31] != float32(int8(blk[2+31]))*0.1259765625 {
		t.Errorf("decoded %v", out)
	}
}

func TestQ4_0Known(t *testing.T) {
	blk := make([]byte, Q4_0.BlockBytes())
	if err := QuantizeQ4_0(blk, ramp()); err != nil {
		t.Fatal(err)
	}
	// max = -16 (x[0]), d = -16/-8 = 2 (0x4000), id = 0.5, q = min(15, trunc(j/2 + 0.5)).
	if d := binary.LittleEndian.Uint16(blk); d != 0x4000 {
		t.Errorf("d = %#04x, want 0x4000", d)
	}
	out := make([]float32, BlockLen)
	if err := DecodeQ4_0(out, blk); err != nil {
		t.Fatal(err)
	}
	for j := range BlockLen {
		q := min(15, int(float64(j)/2+0.5))
		nib := blk[2+j%16] >> (4 * (j / 16)) & 0xf
		if int(nib) != q {
			t.Errorf("q[%d] = %d, want %d", j, nib, q)
		}
		if want := float32(q-8) * 2; out[j] != want {
			t.Errorf("x[%d] = %g, want %g", j, out[j], want)
		}
	}
}

// TestQ4_0KeepsSignOfFirstMax: on a tie in |x| the first value sets the
// sign of d, as in ggml (amax < |v| is a strict comparison).
func TestQ4_0KeepsSignOfFirstMax(t *testing.T) {
	x := make([]float32, BlockLen)
	x[3], x[7] = 3, -3
	blk := make([]byte, Q4_0.BlockBytes())
	QuantizeQ4_0(blk, x)
	if d := F16ToF32(binary.LittleEndian.Uint16(blk)); d != -0.375 {
		t.Errorf("d = %g, want -0.375", d)
	}
	out := make([]float32, BlockLen)
	DecodeQ4_0(out, blk)
	// x[7] = -3 would be q = 16: it clips to 15, i.e. 7*d = -2.625.
	if out[3] != 3 || out[7] != -2.625 || out[0] != 0 {
		t.Errorf("decoded x[3] = %g, x[7] = %g, x[0] = %g", out[3], out[7], out[0])
	}
}

func TestZeroBlock(t *testing.T) {
	for _, typ := range []QuantType{Q8_0, Q4_0} {
		blk := make([]byte, typ.BlockBytes())
		if err := Quantize(typ, blk, make([]float32, BlockLen)); err != nil {
			t.Fatal(err)
		}
		out := make([]float32, BlockLen)
		Decode(typ, out, blk)
		for j, v := range out {
			if v != 0 {
				t.Fatalf("%v: zero block decoded x[%d] = %g", typ, j, v)
			}
		}
	}
}

// TestRoundTrip bounds the quantization error: half a step for Q8_0; up to
// a whole step for Q4_0 (values opposite the max clip at q = 15, i.e. 7d);
// plus the f16 rounding of d, at most amax*2^-11 relative.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64 * BlockLen
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.Float64()*4 - 2)
	}
	x[5] = 0 // zeros and tiny values survive
	for _, typ := range []QuantType{Q8_0, Q4_0} {
		blocks := make([]byte, rowBytes(t, typ, n))
		if err := Quantize(typ, blocks, x); err != nil {
			t.Fatal(err)
		}
		out := make([]float32, n)
		if err := Decode(typ, out, blocks); err != nil {
			t.Fatal(err)
		}
		for b := 0; b < n/BlockLen; b++ {
			var amax float64
			for _, v := range x[b*BlockLen : (b+1)*BlockLen] {
				amax = max(amax, math.Abs(float64(v)))
			}
			step := amax / 127
			if typ == Q4_0 {
				step = 2 * amax / 8 // a whole step, expressed as half of two
			}
			bound := step/2 + amax*(1.0/2048)
			for j := b * BlockLen; j < (b+1)*BlockLen; j++ {
				if err := math.Abs(float64(out[j] - x[j])); err > bound {
					t.Fatalf("%v: x[%d] = %g decoded to %g (|err| %g > %g)", typ, j, x[j], out[j], err, bound)
				}
			}
		}
	}
}

func TestBadLengths(t *testing.T) {
	if err := Decode(Q8_0, make([]float32, 33), make([]byte, 34)); err == nil {
		t.Error("33 values accepted")
	}
	if err := Decode(Q4_0, make([]float32, 32), make([]byte, 34)); err == nil {
		t.Error("34 bytes for one Q4_0 block accepted")
	}
	if err := Quantize(QuantType(99), make([]byte, 34), make([]float32, 32)); err == nil {
		t.Error("unknown type accepted")
	}
}

func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, cols = 3, 96 // 9 blocks: an odd count pads the last scale word
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.Float64()*4 - 2)
	}
	for _, typ := range []QuantType{Q8_0, Q4_0} {
		raw := make([]byte, rowBytes(t, typ, rows*cols))
		Quantize(typ, raw, x)
		p, err := Pack(typ, raw, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, rows*cols)
		Decode(typ, want, raw)
		got := decodePacked(p)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v: packed value %d = %g, want %g", typ, i, got[i], want[i])
			}
		}
		if len(p.Scales) != 5 || p.Scales[4]>>16 != 0 {
			t.Errorf("%v: scales %x: want 5 words, the last half zero", typ, p.Scales)
		}
	}
	if _, err := Pack(Q8_0, make([]byte, 34), 1, 31); err == nil {
		t.Error("31 columns accepted")
	}
}

// decodePacked decodes the GPU layout the way the WGSL kernels do: it is
// the executable form of Packed's documentation.
func decodePacked(p *Packed) []float32 {
	out := make([]float32, p.Rows*p.Cols)
	qw := p.Type.QuantWords()
	for i := range out {
		b, j := i/BlockLen, i%BlockLen
		d := F16ToF32(uint16(p.Scales[b/2] >> (16 * (b % 2))))
		if p.Type == Q8_0 {
			q := int8(p.Quants[b*qw+j/4] >> (8 * (j % 4)))
			out[i] = float32(q) * d
		} else {
			w := p.Quants[b*qw+(j%16)/4]
			q := int(w>>(8*(j%4)+4*(j/16))) & 0xf
			out[i] = float32(q-8) * d
		}
	}
	return out
}

// rowBytes is typ.RowBytes(n) for sizes a test knows to be valid.
func rowBytes(t testing.TB, typ Type, n int) int {
	t.Helper()
	b, err := typ.RowBytes(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
