package tensor

import (
	"fmt"
	"math"
	"strings"
)

// Type is a GGML tensor type id, the number GGUF stores in each tensor info
// (enum ggml_type in ggml.h). webpeft decodes the types named below; every
// other id is refused, by its llama.cpp name where it has one.
type Type uint32

// The tensor types webpeft reads. Block geometry is in typeTraits.
const (
	F32    Type = 0  // 4-byte IEEE float
	F16    Type = 1  // 2-byte IEEE half
	Q4_0   Type = 2  // 32 values: f16 d, 16 bytes of nibbles; x = (q-8)*d
	Q4_1   Type = 3  // 32 values: f16 d, f16 m, 16 bytes of nibbles; x = q*d + m
	Q5_0   Type = 6  // 32 values: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles; x = (q-16)*d
	Q5_1   Type = 7  // 32 values: f16 d, f16 m, fifth bits, nibbles; x = q*d + m
	Q8_0   Type = 8  // 32 values: f16 d, 32 int8; x = q*d
	Q4_K   Type = 12 // 256 values in 8 sub-blocks with 6-bit scales and mins
	Q5_K   Type = 13 // as Q4_K with a fifth bit per value
	Q6_K   Type = 14 // 256 values in 16 sub-blocks with int8 scales
	IQ4_NL Type = 20 // 32 values: f16 d, 16 bytes of indices into a non-linear table
	BF16   Type = 30 // the top half of a float32
)

// QuantType is the earlier name of Type, kept so the GPU code that packs
// Q8_0 and Q4_0 blocks reads as before.
type QuantType = Type

// BlockLen is the number of values in one block of the 32-value formats
// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL); Type.BlockLen gives it per type.
const BlockLen = 32

// kBlockLen is QK_K, the super-block length of the K-quants.
const kBlockLen = 256

// traits is a type's name and block geometry. blockBytes is 0 for types
// that webpeft knows by name but cannot decode.
type traits struct {
	name       string
	blockLen   int
	blockBytes int
}

// typeTraits is indexed by type id. Names are llama.cpp's (gguf-py's
// GGMLQuantizationType); ids 4, 5, 31-33 and 36-38 were removed upstream
// and keep their old names so a file using them is still refused by name.
var typeTraits = [...]traits{
	0:  {"F32", 1, 4},
	1:  {"F16", 1, 2},
	2:  {"Q4_0", BlockLen, 2 + BlockLen/2},
	3:  {"Q4_1", BlockLen, 4 + BlockLen/2},
	4:  {"Q4_2", 0, 0},
	5:  {"Q4_3", 0, 0},
	6:  {"Q5_0", BlockLen, 2 + 4 + BlockLen/2},
	7:  {"Q5_1", BlockLen, 4 + 4 + BlockLen/2},
	8:  {"Q8_0", BlockLen, 2 + BlockLen},
	9:  {"Q8_1", 0, 0},
	10: {"Q2_K", 0, 0},
	11: {"Q3_K", 0, 0},
	12: {"Q4_K", kBlockLen, 4 + 12 + kBlockLen/2},
	13: {"Q5_K", kBlockLen, 4 + 12 + kBlockLen/8 + kBlockLen/2},
	14: {"Q6_K", kBlockLen, kBlockLen/2 + kBlockLen/4 + kBlockLen/16 + 2},
	15: {"Q8_K", 0, 0},
	16: {"IQ2_XXS", 0, 0},
	17: {"IQ2_XS", 0, 0},
	18: {"IQ3_XXS", 0, 0},
	19: {"IQ1_S", 0, 0},
	20: {"IQ4_NL", BlockLen, 2 + BlockLen/2},
	21: {"IQ3_S", 0, 0},
	22: {"IQ2_S", 0, 0},
	23: {"IQ4_XS", 0, 0},
	24: {"I8", 0, 0},
	25: {"I16", 0, 0},
	26: {"I32", 0, 0},
	27: {"I64", 0, 0},
	28: {"F64", 0, 0},
	29: {"IQ1_M", 0, 0},
	30: {"BF16", 1, 2},
	31: {"Q4_0_4_4", 0, 0},
	32: {"Q4_0_4_8", 0, 0},
	33: {"Q4_0_8_8", 0, 0},
	34: {"TQ1_0", 0, 0},
	35: {"TQ2_0", 0, 0},
	36: {"IQ4_NL_4_4", 0, 0},
	37: {"IQ4_NL_4_8", 0, 0},
	38: {"IQ4_NL_8_8", 0, 0},
	39: {"MXFP4", 0, 0},
	40: {"NVFP4", 0, 0},
	41: {"Q1_0", 0, 0},
	42: {"Q2_0", 0, 0},
}

func (t Type) traits() traits {
	if uint64(t) < uint64(len(typeTraits)) {
		return typeTraits[t]
	}
	return traits{}
}

// String is llama.cpp's name for the type ("Q4_K"), or "Type(N)" for an
// id it has no name for.
func (t Type) String() string {
	if n := t.traits().name; n != "" {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// Supported reports whether webpeft decodes the type.
func (t Type) Supported() bool { return t.traits().blockBytes != 0 }

// Check returns nil for a supported type, otherwise an error that names
// the type ("IQ2_XXS is not supported") or gives its unknown id.
func (t Type) Check() error {
	switch {
	case t.Supported():
		return nil
	case t.traits().name != "":
		return fmt.Errorf("tensor: type %v is not supported", t)
	}
	return fmt.Errorf("tensor: unknown type id %d", uint32(t))
}

// BlockLen is the number of values in one block: 1 for F32, F16 and BF16,
// 32 or 256 for the block formats, 0 for an unsupported type.
func (t Type) BlockLen() int { return t.traits().blockLen }

// BlockBytes is the size in bytes of one block (0 for an unsupported type).
func (t Type) BlockBytes() int { return t.traits().blockBytes }

// RowBytes is the size in bytes of n values stored as t. n must be a
// non-negative multiple of BlockLen, and the size must fit in an int.
func (t Type) RowBytes(n int) (int, error) {
	if err := t.Check(); err != nil {
		return 0, err
	}
	bl, bb := t.BlockLen(), t.BlockBytes()
	if n < 0 || n%bl != 0 {
		return 0, fmt.Errorf("tensor: %v: %d values is not a non-negative multiple of the block length %d", t, n, bl)
	}
	if n/bl > math.MaxInt/bb {
		return 0, fmt.Errorf("tensor: %v: %d values overflow a byte count", t, n)
	}
	return n / bl * bb, nil
}

// ParseType returns the supported type with llama.cpp's name name,
// ignoring case ("q4_k" is Q4_K). Known but unsupported names are refused
// as such.
func ParseType(name string) (Type, error) {
	for id, tr := range typeTraits {
		if tr.name != "" && strings.EqualFold(tr.name, name) {
			t := Type(id)
			return t, t.Check()
		}
	}
	return 0, fmt.Errorf("tensor: unknown type name %q", name)
}

// SupportedTypes lists every type webpeft decodes, in id order.
func SupportedTypes() []Type {
	var ts []Type
	for id := range typeTraits {
		if t := Type(id); t.Supported() {
			ts = append(ts, t)
		}
	}
	return ts
}

// checkSizes checks that values values of type t occupy exactly bytes
// bytes.
func (t Type) checkSizes(values, bytes int) error {
	want, err := t.RowBytes(values)
	if err != nil {
		return err
	}
	if bytes != want {
		return fmt.Errorf("tensor: %v: %d values need %d bytes, have %d", t, values, want, bytes)
	}
	return nil
}
