package ops

import (
	"fmt"
	"math"
	"slices"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Sum launches the two-pass f32 sum (sum_partial.wgsl, then sum_final.wgsl):
// WGSL has no f32 atomics, so each workgroup of the first pass reduces a
// chunk into a partials buffer and one workgroup of the second adds them.
// The kernels are built once, in NewSum.
type Sum struct {
	d              *gpu.Device
	partial, final *gpu.Kernel
}

const (
	sumWG = 256 // const WG of both sum shaders
	// sumMaxPartials keeps sum_final's loop at 16 trips per invocation;
	// sum_partial's trips are then n / (256 * 4096), 32 for a 128 MiB input.
	sumMaxPartials = sumWG * 16
)

type sumPartialParams struct{ N, Chunk uint32 }

type sumFinalParams struct{ Count uint32 }

// SumCalls is one sum ready to record: its two dispatches and the partials
// buffer they share. Build it once and record it as often as needed.
type SumCalls struct {
	Partial, Final *gpu.Call
	Partials       *gpu.Buffer // one f32 per Partial workgroup
}

// Record appends both dispatches to r, in order.
func (c *SumCalls) Record(r *gpu.Recorder) {
	r.Dispatch(c.Partial)
	r.Dispatch(c.Final)
}

// Free releases the partials buffer.
func (c *SumCalls) Free() { c.Partials.Free() }

// NewSum builds both sum kernels on d.
func NewSum(d *gpu.Device) (*Sum, error) {
	partial, err := d.Kernel("sum_partial.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	final, err := d.Kernel("sum_final.wgsl", nil, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Sum{d: d, partial: partial, final: final}, nil
}

// Call returns the dispatches that write out[0] = sum of x[i] for i < n
// (ref.Sum), with a new partials buffer between them.
func (s *Sum) Call(out, x *gpu.Buffer, n int) (*SumCalls, error) {
	if err := needFloats(s.partial.Name, n, x); err != nil {
		return nil, err
	}
	if err := needFloats(s.final.Name, 1, out); err != nil {
		return nil, err
	}
	perInvocation := (n + sumWG*sumMaxPartials - 1) / (sumWG * sumMaxPartials)
	chunk := sumWG * perInvocation
	count := (n + chunk - 1) / chunk
	partials, err := s.d.NewBuffer(x.Label+".partials", 4*uint64(count))
	if err != nil {
		return nil, err
	}
	c := &SumCalls{Partials: partials}
	c.Partial, err = s.partial.Call(gpu.Grid{X: uint32(count), Y: 1, Z: 1},
		sumPartialParams{N: uint32(n), Chunk: uint32(chunk)}, x, partials)
	if err == nil {
		c.Final, err = s.final.Call(gpu.Grid{X: 1, Y: 1, Z: 1}, sumFinalParams{Count: uint32(count)}, partials, out)
	}
	if err != nil {
		partials.Free()
		return nil, err
	}
	return c, nil
}

// sumTol is relative to the float64 sum, plus 1e-6 * ||x||_2 for sums that
// cancel to near zero, where a relative bound alone means nothing: the f32
// rounding errors of a tree sum add up like a random walk over the values.
func sumTol(x []float32) Tol {
	var sq float64
	for _, v := range x {
		sq += float64(v) * float64(v)
	}
	return Tol{Abs: 1e-6 * math.Sqrt(sq), Rel: 1e-5}
}

// sumCases check the two-pass sum against ref.Sum (float64), summing
// prefixes of one buffer (so n need not fill it), all in one submit per
// case. Random inputs in [-2, 2) are held to sumTol. Small-integer inputs
// are held to Exact: every partial sum is an integer below 2^24, exact in
// f32, so one element dropped or added twice anywhere shows.
func sumCases() []Case {
	return []Case{
		{"sum/n=1,3,37,257,65537", func(d *gpu.Device) error { return checkSum(d, 1, 3, 37, 257, 65537) }},
		{"sum/n=2000003,1048583", func(d *gpu.Device) error { return checkSum(d, 2000003, 1048583) }},
	}
}

// sumInput is one buffer whose prefixes a sum case adds up.
type sumInput struct {
	name string
	x    []float32
	tol  func(x []float32) Tol
}

func sumInputs(n int) []sumInput {
	ints := newSeeded(21).ints(n, 2)
	exact := func([]float32) Tol { return Exact }
	return []sumInput{{"x", seededF32(20, n, 2), sumTol}, {"ints", ints, exact}}
}

// checkSum sums the first n values of each input for each n in ns.
func checkSum(d *gpu.Device, ns ...int) error {
	s, err := NewSum(d)
	if err != nil {
		return err
	}
	inputs := sumInputs(slices.Max(ns))
	rec := newRecording(d, "sum")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	for _, in := range inputs {
		bx, err := inputBuffer(d, in.name, in.x)
		if err != nil {
			return err
		}
		defer bx.Free()
		for _, n := range ns {
			out, err := NewGuarded(d, fmt.Sprintf("sum(%s[:%d])", in.name, n), 1, nil)
			if err != nil {
				return err
			}
			outs = append(outs, out)
			c, err := s.Call(out.View, bx, n)
			if err != nil {
				return err
			}
			defer c.Free()
			c.Record(rec.r)
		}
	}
	if err := rec.submit(); err != nil {
		return err
	}
	for i, out := range outs {
		in, n := inputs[i/len(ns)], ns[i%len(ns)]
		want := []float32{float32(ref.Sum(in.x[:n]))}
		got, err := out.Read()
		if err != nil {
			return err
		}
		if err := Close(out.View.Label, got, want, in.tol(in.x[:n])); err != nil {
			return err
		}
	}
	return nil
}
