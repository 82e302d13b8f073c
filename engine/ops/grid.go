package ops

import (
	"fmt"

	"webpeft/engine/gpu"
)

// maxElems bounds element counts so that u32 indices in the kernels never
// overflow (no binding is larger than 4 GiB = 2^30 float32s anyway).
const maxElems = 1 << 30

// needFloats checks that n is a usable element count and that every buffer
// holds at least n float32s, so a short buffer is an error here rather than
// silently truncated output (WebGPU clamps out-of-bounds accesses).
func needFloats(kernel string, n int, bufs ...*gpu.Buffer) error {
	if n <= 0 || n > maxElems {
		return fmt.Errorf("ops: %s: %d elements is outside 1..%d", kernel, n, maxElems)
	}
	for _, b := range bufs {
		if b == nil {
			return fmt.Errorf("ops: %s: nil buffer", kernel)
		}
		if b.Size < 4*uint64(n) {
			return fmt.Errorf("ops: %s: buffer %q holds %d float32s, need %d", kernel, b.Label, b.Size/4, n)
		}
	}
	return nil
}

// groupGrid lays out groups workgroups on a grid, 2-D when one dimension
// cannot hold them all (WebGPU allows 65535 per dimension by default). It
// may launch up to Y-1 spare workgroups, which the kernels' bounds guards
// skip.
func groupGrid(d *gpu.Device, groups int) (gpu.Grid, error) {
	maxDim := int(d.Limits.MaxComputeWorkgroupsPerDimension)
	y := (groups + maxDim - 1) / maxDim
	if groups <= 0 || y > maxDim {
		return gpu.Grid{}, fmt.Errorf("ops: %d workgroups do not fit a %d x %d grid", groups, maxDim, maxDim)
	}
	x := (groups + y - 1) / y
	return gpu.Grid{X: uint32(x), Y: uint32(y), Z: 1}, nil
}

// flatGrid covers n invocations with workgroups of wg. row is the number of
// invocations per grid row: a kernel's element index is gid.y*row + gid.x.
func flatGrid(d *gpu.Device, n, wg int) (grid gpu.Grid, row uint32, err error) {
	grid, err = groupGrid(d, (n+wg-1)/wg)
	return grid, grid.X * uint32(wg), err
}
