package safetensors

import (
	"fmt"

	"webpeft/engine/tensor"
)

// quantChunkBytes bounds the float32 staging buffer of ReadQuantized, so
// quantizing a large weight on load needs little more than its blocks.
const quantChunkBytes = 4 << 20

// CanQuantize reports whether ReadQuantized accepts t: a 2-D F32, F16 or
// BF16 weight whose rows are a non-zero whole number of 32-value blocks.
// Other tensors (norms, biases, rows such as 576+1 wide) stay unquantized.
func CanQuantize(t *TensorInfo) bool {
	return t.DType.isFloat() && len(t.Shape) == 2 && t.RowLen() > 0 && t.RowLen()%tensor.BlockLen == 0
}

// ReadQuantized reads rows [rowStart, rowStart+rows) of a 2-D float weight
// and packs each row into GGUF blocks of qt (tensor.Q8_0 or tensor.Q4_0),
// as llama-quantize does from the same values, so the result is the
// tensor's GGUF data for those rows. It stages a few MiB of float32 at a
// time, never the whole tensor.
//
// Rows are the stored rows: a weight stored transposed (GPT-2's Conv1D,
// (in, out)) must be transposed before it is quantized along its inputs.
func (f *File) ReadQuantized(t *TensorInfo, qt tensor.QuantType, rowStart, rows int64) ([]byte, error) {
	if qt != tensor.Q8_0 && qt != tensor.Q4_0 {
		return nil, fmt.Errorf("safetensors: tensor %q: quantizing to %v is not supported (Q8_0 or Q4_0)", t.Name, qt)
	}
	if !CanQuantize(t) {
		return nil, fmt.Errorf("safetensors: tensor %q (%s %v) cannot be quantized: it must be a 2-D F32/F16/BF16 weight with rows a multiple of %d",
			t.Name, t.DType, t.Shape, tensor.BlockLen)
	}
	if _, _, err := t.rowSpan(rowStart, rows); err != nil {
		return nil, err
	}
	rowLen := t.RowLen()
	rowBlocks := rowLen / tensor.BlockLen * int64(qt.BlockBytes())
	out := make([]byte, rows*rowBlocks)
	step := max(1, quantChunkBytes/(rowLen*4))
	for r := int64(0); r < rows; r += step {
		n := min(step, rows-r)
		x, err := f.ReadF32(t, rowStart+r, n)
		if err != nil {
			return nil, err
		}
		if err := tensor.Quantize(qt, out[r*rowBlocks:(r+n)*rowBlocks], x); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
	}
	return out, nil
}
