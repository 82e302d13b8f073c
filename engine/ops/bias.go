package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Bias launches bias_add_fwd.wgsl: the bias of a linear layer (qwen2's
// Q/K/V projections, gpt2's), added in place to the matmul's output. The
// kernel is built once, in NewBias.
type Bias struct {
	d *gpu.Device
	k *gpu.Kernel
}

// biasWG is the workgroup size (const WG) of bias_add_fwd.wgsl.
const biasWG = 256

type biasParams struct {
	N, Cols uint32
	Row     uint32 // elements per grid row (see flatGrid)
}

// NewBias builds the bias kernel on d.
func NewBias(d *gpu.Device) (*Bias, error) {
	k, err := d.Kernel("bias_add_fwd.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Bias{d: d, k: k}, nil
}

// Call returns the call y[r*cols+c] += bias[c] for r < rows, c < cols, in
// place (the bias loop of ref.LinearForward): y is (rows, cols) row-major,
// e.g. (B*T, OC), bias (cols). bias must not be a view of y's buffer
// (WebGPU forbids binding one buffer as both read and read_write).
func (b *Bias) Call(y, bias *gpu.Buffer, rows, cols int) (*gpu.Call, error) {
	if cols <= 0 || rows <= 0 || rows > maxElems/cols {
		return nil, fmt.Errorf("ops: %s: (%d, %d): none or too large", b.k.Name, rows, cols)
	}
	if err := needFloats(b.k.Name+" y", rows*cols, y); err != nil {
		return nil, err
	}
	if err := needFloats(b.k.Name+" bias", cols, bias); err != nil {
		return nil, err
	}
	grid, row, err := flatGrid(b.d, rows*cols, biasWG)
	if err != nil {
		return nil, err
	}
	return b.k.Call(grid, biasParams{N: uint32(rows * cols), Cols: uint32(cols), Row: row}, bias, y)
}

// biasCases check the in-place bias add against ref.Add on each row bit for
// bit: one correctly rounded f32 addition per element on both sides
// (Exact). The shapes are odd, narrower and wider than a workgroup, and
// gpt2's fused QKV width 2304.
func biasCases() []Case {
	return []Case{{"bias/odd-shapes", checkBias}}
}

func checkBias(d *gpu.Device) error {
	b, err := NewBias(d)
	if err != nil {
		return err
	}
	shapes := [][2]int{{1, 1}, {3, 37}, {37, 3}, {7, 257}, {5, 2304}}
	rec := newRecording(d, "bias")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(shapes))
	for i, s := range shapes {
		rows, cols := s[0], s[1]
		g := newSeeded(uint64(800 + i))
		y, bias := g.next(rows*cols, 2), g.next(cols, 2)
		bb, err := inputBuffer(d, fmt.Sprintf("bias %dx%d", rows, cols), bias)
		if err != nil {
			return err
		}
		defer bb.Free()
		out, err := NewGuarded(d, fmt.Sprintf("y+bias %dx%d", rows, cols), rows*cols, y)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(b.Call(out.View, bb, rows, cols))
		want[i] = make([]float32, rows*cols)
		for r := range rows {
			ref.Add(want[i][r*cols:(r+1)*cols], y[r*cols:(r+1)*cols], bias)
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, Exact)
}
