package tensor

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The golden hashes below were computed by llama.cpp's reference C code
// (dequantize_row_* and quantize_row_*_ref of ggml-quants.c, with ggml's
// fp16 and bf16 conversions), compiled with gcc -O2 -ffp-contract=off and
// also -O0 (same results), on exactly the inputs goldenBlocks and
// goldenValues make. They pin the types no test model in testdata/models
// uses (Q4_1, Q5_0, Q5_1, IQ4_NL, Q5_K, BF16) as tightly as the models pin
// the others.

// goldenN is the number of values in each golden input: 16 K-quant
// super-blocks, 128 blocks of 32.
const goldenN = 4096

var goldenDecode = map[Type]string{
	F32:    "db2eba215a316bb154792c60f6c5f409257a843ed9248e70ecf3b267278112a0",
	F16:    "1753fae8e4c1f3547a30f913b45a91ea9821fe8ce92f7f3057aa9439e00cd307",
	Q4_0:   "77319549c4258466e70bb617c00a7c6ee7cdc9a6bb01034d34ca9225621feb7c",
	Q4_1:   "42669caaa484bef9abb54b8ea4b10b5f961d5fde20c386a218990d7dfd36bc1c",
	Q5_0:   "114870882ac5c34450d3b4274d83d04511892ce772d86873a493d6f70b5c7914",
	Q5_1:   "1758850cb6d8ee5066a7255c53dd2f6f97678731f30ecd3df2b9d8c94b89ce51",
	Q8_0:   "349789b741e568e46cca0a0fa736768d936586c296cd64795c424c76f7e9279c",
	Q4_K:   "dd2f46d20885b6a37ac6f88c91570164428e96fff8895b7fefd8a8029255031b",
	Q5_K:   "33ba12e46c2511dda13f1f9930d6de91a7ade6e3edce1f30526ae9106e0ab92f",
	Q6_K:   "a186daf54b560b5ec105904a650a71228d16a1f52d944a6794c76f6fd6e726d1",
	IQ4_NL: "930b50a8e095e5ecffcf96b617d897d177ce4b19714e687614a45681f72ff8e7",
	BF16:   "fe4cb8d1ca8997ec756b418ca2de51ff24d9cadb8914090a245b5dd5eac6bc4a",
}

var goldenEncode = map[Type]string{
	F32:  "82ffe68125cb8e4c1f77a4117d16dbb0ee76337fa7559eaabaa894db5cd15cfb",
	F16:  "0dbfd2f821ea394d74b05fd3e21b8809d46b1842811256fd48a4d7a5f6085942",
	Q4_0: "10931d2fcdafd445c1a0abd64fee1a50484493e3f64f1aee642aa35677da3f35",
	Q4_1: "7924d79c042c9a651f6aea2a8ee0a49685dac15a7c2709ef29ffa9d0e0c2ae4d",
	Q5_0: "0e2a9b8e3eea89ba6ef601e8debd28e7c5a9cc1474d6844686a60b09d93fef97",
	Q5_1: "dfd1a9ab94787a63e2f991b1bcd2ecbe1c5c79a4f5c70991b58b062974fbd225",
	Q8_0: "e323be5141f93d241889c58c4dd7f1ac023225afc290fceb378ef71b164a9d1c",
	BF16: "d8b276405739d5b4b5a5491003597a8978324ae2cb5d1c473e3fc800c5314026",
}

// goldenBlocks returns goldenN values of type t as random stored bytes,
// every f16 scale (and every F16 value) made finite: ggml's fp16
// conversion quiets signalling NaNs, which F16ToF32 keeps as they are.
func goldenBlocks(t Type) []byte {
	rng := rand.New(rand.NewPCG(uint64(t), 0x9e3779b97f4a7c15))
	raw := make([]byte, mustRowBytes(t, goldenN))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	for _, off := range f16Offsets(t) {
		for b := off; b < len(raw); b += t.BlockBytes() {
			h := binary.LittleEndian.Uint16(raw[b:])
			if h&0x7c00 == 0x7c00 {
				h &^= 0x4000
			}
			binary.LittleEndian.PutUint16(raw[b:], h)
		}
	}
	return raw
}

// f16Offsets lists where in a block of type t the f16 fields lie.
func f16Offsets(t Type) []int {
	switch t {
	case F16, Q4_0, Q5_0, Q8_0, IQ4_NL:
		return []int{0}
	case Q4_1, Q5_1, Q4_K, Q5_K:
		return []int{0, 2}
	case Q6_K:
		return []int{208}
	}
	return nil
}

// goldenValues returns goldenN float32s for the encoders: blocks of
// random normals at scales from 1e-6 to 1e3, with special blocks (all
// zero, signed zeros, constant, subnormal, a lone spike, ties for the
// largest magnitude) mixed in.
func goldenValues() []float32 {
	rng := rand.New(rand.NewPCG(7, 11))
	x := make([]float32, goldenN)
	for b := 0; b < goldenN/BlockLen; b++ {
		blk := x[b*BlockLen : (b+1)*BlockLen]
		scale := math.Pow(10, rng.Float64()*9-6)
		for j := range blk {
			blk[j] = float32(rng.NormFloat64() * scale)
		}
		specialBlock(b, blk)
	}
	return x
}

func specialBlock(b int, blk []float32) {
	switch b {
	case 0:
		clear(blk)
	case 1:
		for j := range blk {
			blk[j] = float32(math.Copysign(0, float64(j%2)-0.5))
		}
	case 2:
		for j := range blk {
			blk[j] = 0.75
		}
	case 3:
		for j := range blk {
			blk[j] = math.Float32frombits(uint32(j + 1)) // float32 subnormals
		}
	case 4:
		clear(blk)
		blk[9] = -3
	case 5:
		for j := range blk {
			blk[j] = float32(j%5) - 2 // -2 and 2 tie for the largest magnitude
		}
	}
}

func mustRowBytes(t Type, n int) int {
	b, err := t.RowBytes(n)
	if err != nil {
		panic(err) // test inputs only: sizes are whole blocks
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func TestDecodeGolden(t *testing.T) {
	for _, typ := range SupportedTypes() {
		out := make([]float32, goldenN)
		if err := DecodeRows(typ, out, goldenBlocks(typ)); err != nil {
			t.Fatal(err)
		}
		if got, want := sha(f32Bytes(out)), goldenDecode[typ]; got != want {
			t.Errorf("%v: decoded sha256 %s, llama.cpp's %s", typ, got, want)
		}
	}
}

func TestEncodeGolden(t *testing.T) {
	x := goldenValues()
	for _, typ := range SupportedTypes() {
		if !CanEncode(typ) || slices.Contains(ownEncoders, typ) {
			continue // no llama.cpp bytes to match: kquant_encode_test.go
		}
		out := make([]byte, mustRowBytes(typ, goldenN))
		if err := EncodeRows(typ, out, x); err != nil {
			t.Fatal(err)
		}
		if got, want := sha(out), goldenEncode[typ]; got != want {
			t.Errorf("%v: encoded sha256 %s, llama.cpp's %s", typ, got, want)
		}
	}
}
