package ops

import "webpeft/engine/gpu"

// peakParams is the Params struct of fma_peak.wgsl.
type peakParams struct {
	Iters    uint32
	Mul, Add float32
	Pad      uint32
}

const (
	peakWG     = 64   // workgroup size (const WG in fma_peak.wgsl)
	peakGroups = 2048 // 131072 invocations: enough to fill a large GPU
	peakIters  = 1024 // loop trips, far below lavapipe's 65535
	peakChains = 8    // independent vec4 FMA chains per invocation
)

// peakBenches measure the adapter's peak f32 FMA rate (fma_peak.wgsl): the
// ceiling the matmul numbers are read against.
func peakBenches() []Bench {
	return []Bench{{
		Name:  "fma_peak",
		Flops: 2 * 4 * peakChains * peakIters * peakWG * peakGroups,
		Setup: setupPeak,
	}}
}

func setupPeak(d *gpu.Device) (func(int) error, error) {
	k, err := d.Kernel("fma_peak.wgsl", nil, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	out, err := d.NewBuffer("fma_peak.out", 4*peakWG*peakGroups)
	if err != nil {
		return nil, err
	}
	// a -> 0.999 a + 0.001 keeps every chain finite and away from subnormals.
	c, err := k.Call(gpu.Grid{X: peakGroups, Y: 1, Z: 1}, peakParams{Iters: peakIters, Mul: 0.999, Add: 0.001}, out)
	if err != nil {
		return nil, err
	}
	return repeat(d, c), nil
}
