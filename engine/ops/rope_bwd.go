package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// RopeBackward launches rope_bwd.wgsl, the backward pass of Rope: the
// transposed rotation, one invocation per rotated pair. The kernel is
// built once, in NewRopeBackward.
type RopeBackward struct {
	d *gpu.Device
	k *gpu.Kernel
}

// ropeBwdParams is the Params struct of rope_bwd.wgsl.
type ropeBwdParams struct {
	N, Row, NH, HS, Pairs uint32
	Theta                 float32
	Accumulate            uint32
}

// NewRopeBackward builds the RoPE backward kernel on d.
func NewRopeBackward(d *gpu.Device) (*RopeBackward, error) {
	k, err := d.Kernel("rope_bwd.wgsl", []string{"rope_sincos.wgsl"}, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &RopeBackward{d: d, k: k}, nil
}

// Call returns the call dinp (+)= R^T dout (ref.RopeBackward), R the
// rotation Rope.Forward applied with the same pos, theta and pairs: each
// pair (x, y) turns back by its angle,
//
//	dinp[x] (+)= dout[x]*cos(angle) + dout[y]*sin(angle)
//	dinp[y] (+)= dout[y]*cos(angle) - dout[x]*sin(angle)
//
// dout and dinp are (B,T,NH,HS) with HS even, pos (B,T) u32 positions.
// accumulate adds the gradient to dinp, otherwise it is overwritten. dinp
// must not be dout (WebGPU forbids binding one buffer as both read and
// read_write).
func (r *RopeBackward) Call(dinp, dout, pos *gpu.Buffer, B, T, NH, HS int, theta float32, pairs ref.RopePairs, accumulate bool) (*gpu.Call, error) {
	name := r.k.Name
	if B <= 0 || T <= 0 || NH <= 0 || HS <= 0 || HS%2 != 0 {
		return nil, fmt.Errorf("ops: %s: bad shape B=%d T=%d NH=%d HS=%d (HS must be even)", name, B, T, NH, HS)
	}
	if pairs != ref.RopeInterleaved && pairs != ref.RopeHalf {
		return nil, fmt.Errorf("ops: %s: unknown pairing %d", name, pairs)
	}
	if !(theta > 1) {
		return nil, fmt.Errorf("ops: %s: theta %g must be > 1", name, theta)
	}
	if B*T > maxElems/NH || B*T*NH > maxElems/HS {
		return nil, fmt.Errorf("ops: %s: B=%d T=%d NH=%d HS=%d is too large", name, B, T, NH, HS)
	}
	if err := needFloats(name, B*T*NH*HS, dinp, dout); err != nil {
		return nil, err
	}
	if err := needFloats(name, B*T, pos); err != nil { // u32s, the same size
		return nil, err
	}
	n := B * T * NH * HS / 2
	grid, row, err := flatGrid(r.d, n, ropeWG)
	if err != nil {
		return nil, err
	}
	p := ropeBwdParams{N: uint32(n), Row: row, NH: uint32(NH), HS: uint32(HS), Pairs: uint32(pairs), Theta: theta, Accumulate: flag(accumulate)}
	return r.k.Call(grid, p, dout, pos, dinp)
}

// ropeBackwardCases check the backward against ref.RopeBackward on the
// forward's odd shapes, both pairings, fresh and far positions (within
// ropeTol and ropeFarTol: the same f32 angles as the forward), with and
// without accumulate.
func ropeBackwardCases() []Case {
	shapes := []ropeShape{{1, 1, 4, 64}, {2, 7, 4, 64}, {1, 37, 3, 8}, {2, 37, 2, 8}}
	var cases []Case
	for _, pairs := range []ref.RopePairs{ref.RopeInterleaved, ref.RopeHalf} {
		for _, far := range []bool{false, true} {
			for _, acc := range []bool{false, true} {
				name := map[ref.RopePairs]string{ref.RopeInterleaved: "interleaved", ref.RopeHalf: "half"}[pairs]
				pos := map[bool]string{false: "positions-0..T-1", true: "positions-near-1000"}[far]
				cases = append(cases, Case{
					Name: fmt.Sprintf("rope-bwd/%s/%s/%s", name, pos, accumulateName(acc)),
					Run:  func(d *gpu.Device) error { return checkRopeBackward(d, shapes, pairs, far, acc) },
				})
			}
		}
	}
	return cases
}

func checkRopeBackward(d *gpu.Device, shapes []ropeShape, pairs ref.RopePairs, far, accumulate bool) error {
	const theta = 10000
	r, err := NewRopeBackward(d)
	if err != nil {
		return err
	}
	tol := ropeTol
	if far {
		tol = ropeFarTol
	}
	rec := newRecording(d, "rope backward")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(shapes))
	for i, s := range shapes {
		n := s.B * s.T * s.NH * s.HS
		dout := seededF32(uint64(2200+i), n, 2)
		init, w := accumulateInit(uint64(2300+i), n, accumulate)
		pos := make([]int, s.B*s.T)
		pos32 := make([]uint32, len(pos))
		for j := range pos {
			b, t := j/s.T, j%s.T
			pos[j] = t
			if far {
				pos[j] = 1000 + 17*b + t*(1+b)
			}
			pos32[j] = uint32(pos[j])
		}
		bd, err := inputBuffer(d, "dout "+s.String(), dout)
		if err != nil {
			return err
		}
		defer bd.Free()
		bp, err := d.NewBuffer("pos "+s.String(), 4*uint64(len(pos32)))
		if err != nil {
			return err
		}
		defer bp.Free()
		if err := bp.UploadU32(0, pos32); err != nil {
			return err
		}
		out, err := NewGuarded(d, "rope dinp "+s.String(), n, init)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(r.Call(out.View, bd, bp, s.B, s.T, s.NH, s.HS, theta, pairs, accumulate))
		g64 := normF64(w)
		ref.RopeBackward(g64, normF64(dout), pos, s.B, s.T, s.NH, s.HS, theta, pairs)
		want[i] = normF32(g64)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, tol)
}
