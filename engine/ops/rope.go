package ops

import (
	"fmt"

	"webpeft/engine/gpu"
	"webpeft/engine/ref"
)

// Rope launches rope_fwd.wgsl: rotary position embeddings of queries or
// keys, one invocation per rotated pair. The kernel is built once, in
// NewRope.
type Rope struct {
	d *gpu.Device
	k *gpu.Kernel
}

// ropeWG is the workgroup size (const WG) of rope_fwd.wgsl.
const ropeWG = 256

// ropeParams is the Params struct of rope_fwd.wgsl.
type ropeParams struct {
	N, Row, NH, HS, Pairs uint32
	Theta                 float32
}

// NewRope builds the RoPE kernel on d.
func NewRope(d *gpu.Device) (*Rope, error) {
	k, err := d.Kernel("rope_fwd.wgsl", []string{"rope_sincos.wgsl"}, gpu.Read, gpu.Read, gpu.ReadWrite, gpu.Uniform)
	if err != nil {
		return nil, err
	}
	return &Rope{d: d, k: k}, nil
}

// Forward returns the call out = RoPE(inp) (ref.RopeForward): inp and out
// are (B,T,NH,HS) with HS even, pos is (B,T) u32 absolute positions (upload
// them with UploadU32), theta the frequency base (e.g. 10000) and pairs
// which dimensions turn together. Frequencies and angles are f32. out must
// not be inp (WebGPU forbids binding one buffer as both read and
// read_write).
func (r *Rope) Forward(out, inp, pos *gpu.Buffer, B, T, NH, HS int, theta float32, pairs ref.RopePairs) (*gpu.Call, error) {
	if B <= 0 || T <= 0 || NH <= 0 || HS <= 0 || HS%2 != 0 {
		return nil, fmt.Errorf("ops: %s: bad shape B=%d T=%d NH=%d HS=%d (HS must be even)", r.k.Name, B, T, NH, HS)
	}
	if pairs != ref.RopeInterleaved && pairs != ref.RopeHalf {
		return nil, fmt.Errorf("ops: %s: unknown pairing %d", r.k.Name, pairs)
	}
	if !(theta > 1) {
		return nil, fmt.Errorf("ops: %s: theta %g must be > 1", r.k.Name, theta)
	}
	if B*T > maxElems/NH || B*T*NH > maxElems/HS {
		return nil, fmt.Errorf("ops: %s: B=%d T=%d NH=%d HS=%d is too large", r.k.Name, B, T, NH, HS)
	}
	if err := needFloats(r.k.Name, B*T*NH*HS, out, inp); err != nil {
		return nil, err
	}
	if err := needFloats(r.k.Name, B*T, pos); err != nil { // u32s, the same size
		return nil, err
	}
	n := B * T * NH * HS / 2
	grid, row, err := flatGrid(r.d, n, ropeWG)
	if err != nil {
		return nil, err
	}
	p := ropeParams{N: uint32(n), Row: row, NH: uint32(NH), HS: uint32(HS), Pairs: uint32(pairs), Theta: theta}
	return r.k.Call(grid, p, inp, pos, out)
}

// ropeShape is one input of a RoPE case (positions: see checkRope).
type ropeShape struct{ B, T, NH, HS int }

func (s ropeShape) String() string { return fmt.Sprintf("B=%d T=%d NH=%d HS=%d", s.B, s.T, s.NH, s.HS) }

// ropeTol holds for positions below ~64 (inputs in [-2, 2)): the f32
// frequency (exp2 and log2 are allowed a few ulp) times the position, plus
// the in-kernel sin and cos. Worst seen: 1.3e-6 (lavapipe and SwiftShader).
var ropeTol = Tol{Abs: 2e-5, Rel: 1e-4}

// ropeFarTol holds for positions up to ~1100: there the f32 angle
// position * freq is itself off by ~1e-4 rad (rounding of the product and
// the few-ulp error of exp2 in the frequency, times the position), which
// the float64 ref does not share; WGSL's exp2 bound (3 + 2|x| ulp) allows
// up to ~3e-4 rad. Worst seen: 1.9e-4 (lavapipe), 1.6e-4 (SwiftShader, first shape).
var ropeFarTol = Tol{Abs: 1e-3, Rel: 1e-4}

// ropeCases check both pairings against the float64 ref on odd shapes:
// fresh sequences (positions 0..T-1) and sequences continuing far into a
// context (positions offset by ~1000 and differing per batch row).
func ropeCases() []Case {
	shapes := []ropeShape{{1, 1, 4, 64}, {2, 7, 4, 64}, {1, 37, 3, 8}, {2, 37, 2, 8}}
	var cases []Case
	for _, pairs := range []ref.RopePairs{ref.RopeInterleaved, ref.RopeHalf} {
		for _, far := range []bool{false, true} {
			name := map[ref.RopePairs]string{ref.RopeInterleaved: "interleaved", ref.RopeHalf: "half"}[pairs]
			pos := "positions-0..T-1"
			if far {
				pos = "positions-near-1000"
			}
			cases = append(cases, Case{
				Name: fmt.Sprintf("rope/%s/%s", name, pos),
				Run:  func(d *gpu.Device) error { return checkRope(d, shapes, pairs, far) },
			})
		}
	}
	return cases
}

func checkRope(d *gpu.Device, shapes []ropeShape, pairs ref.RopePairs, far bool) error {
	const theta = 10000
	r, err := NewRope(d)
	if err != nil {
		return err
	}
	tol := ropeTol
	if far {
		tol = ropeFarTol
	}
	rec := newRecording(d, "rope")
	var outs []*Guarded
	defer func() { freeGuardeds(outs) }()
	want := make([][]float32, len(shapes))
	for i, s := range shapes {
		n := s.B * s.T * s.NH * s.HS
		x := seededF32(uint64(40+i), n, 2)
		pos := make([]int, s.B*s.T)
		pos32 := make([]uint32, len(pos))
		for j := range pos {
			b, t := j/s.T, j%s.T
			pos[j] = t
			if far {
				pos[j] = 1000 + 17*b + t*(1+b) // up to ~1100, a gap between rows
			}
			pos32[j] = uint32(pos[j])
		}
		bx, err := inputBuffer(d, "x "+s.String(), x)
		if err != nil {
			return err
		}
		defer bx.Free()
		bp, err := d.NewBuffer("pos "+s.String(), 4*uint64(len(pos32)))
		if err != nil {
			return err
		}
		defer bp.Free()
		if err := bp.UploadU32(0, pos32); err != nil {
			return err
		}
		out, err := NewGuarded(d, "rope "+s.String(), n, nil)
		if err != nil {
			return err
		}
		outs = append(outs, out)
		rec.dispatch(r.Forward(out.View, bx, bp, s.B, s.T, s.NH, s.HS, theta, pairs))
		want[i] = make([]float32, n)
		ref.RopeForward(want[i], x, pos, s.B, s.T, s.NH, s.HS, theta, pairs)
	}
	if err := rec.submit(); err != nil {
		return err
	}
	return checkGuardeds(outs, want, tol)
}
