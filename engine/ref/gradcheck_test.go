package ref

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Finite-difference settings for every backward test, in float64. Central
// differences err by about h^2 * (third derivative) / 6 (truncation) plus eps * |L| / h
// (rounding), both near 1e-10 for the losses here, so a gradient that is
// off by more than rtol relative, with atol as the floor for entries near
// 0, is wrong.
const (
	fdStep = 1e-5
	fdRtol = 1e-6
	fdAtol = 1e-8
)

// gradCheck checks that grad is the gradient of f at x by central
// differences: for every i,
//
//	|grad[i] - (f(x + h e_i) - f(x - h e_i)) / 2h| <= atol + rtol * |numeric|
//
// f must read x, which gradCheck perturbs one entry at a time and restores
// from a saved copy (so no probe drifts, as in gonum's diff/fd). It fails t
// on the first few entries off and returns the worst absolute error and the
// worst error as a fraction of its tolerance.
func gradCheck(t *testing.T, what string, f func() float64, x, grad []float64, h, rtol, atol float64) (worstAbs, worstFrac float64) {
	t.Helper()
	if len(grad) != len(x) {
		t.Fatalf("%s: %d gradient values for %d inputs", what, len(grad), len(x))
	}
	saved := append([]float64(nil), x...)
	fails := 0
	for i := range x {
		x[i] = saved[i] + h
		up := f()
		x[i] = saved[i] - h
		down := f()
		x[i] = saved[i]
		num := (up - down) / (2 * h)
		err := math.Abs(grad[i] - num)
		tol := atol + rtol*math.Abs(num)
		worstAbs, worstFrac = max(worstAbs, err), max(worstFrac, err/tol)
		if !(err <= tol) && fails < 5 {
			fails++
			t.Errorf("%s[%d]: analytic %.12g, numeric %.12g (off by %.3g, tolerance %.3g)", what, i, grad[i], num, err, tol)
		}
	}
	return worstAbs, worstFrac
}

// param is one input of an op whose gradient a gradCase checks.
type param struct {
	name     string
	x        []float64 // the value, perturbed in place by the check
	optional bool      // the backward takes a nil gradient buffer for it
}

// gradCase is one op on fixed random inputs. loss runs the forward (saving
// what the backward needs) and returns L = sum(out * dout) for a fixed
// random dout; backward runs the backward with that dout, accumulating
// dL/dparams[i] into grads[i], a nil grads[i] meaning not wanted.
type gradCase struct {
	params   []param
	loss     func() float64
	backward func(grads [][]float64)
}

// checkBackward runs the checks every backward must pass: each gradient
// agrees with finite differences of loss (gradCheck); a second call adds
// as much again (backward accumulates); and leaving out any optional
// gradient (nil) changes none of the others.
func checkBackward(t *testing.T, c gradCase) {
	t.Helper()
	c.loss()
	first := zerosLike(c.params)
	c.backward(first)
	for i, p := range c.params {
		abs, frac := gradCheck(t, "d"+p.name, c.loss, p.x, first[i], fdStep, fdRtol, fdAtol)
		t.Logf("d%s: worst |analytic - numeric| %.2g, %.2g of tolerance", p.name, abs, frac)
	}

	c.loss() // the probes left other saved statistics behind
	twice := zerosLike(c.params)
	c.backward(twice)
	c.backward(twice)
	for i, p := range c.params {
		for j, g := range first[i] {
			if d := math.Abs(twice[i][j] - 2*g); d > 1e-12*(1+math.Abs(g)) {
				t.Errorf("d%s[%d]: two calls gave %v, want twice %v", p.name, j, twice[i][j], g)
				break
			}
		}
	}

	for skip, p := range c.params {
		if !p.optional {
			continue
		}
		grads := zerosLike(c.params)
		grads[skip] = nil
		c.backward(grads)
		for i, q := range c.params {
			if i != skip && !sameFloats(grads[i], first[i]) {
				t.Errorf("with d%s nil, d%s = %v, want %v", p.name, q.name, grads[i], first[i])
			}
		}
	}
}

func zerosLike(ps []param) [][]float64 {
	g := make([][]float64, len(ps))
	for i, p := range ps {
		g[i] = make([]float64, len(p.x))
	}
	return g
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// uniform returns n values drawn uniformly from [lo, hi).
func uniform(rng *rand.Rand, n int, lo, hi float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = lo + (hi-lo)*rng.Float64()
	}
	return x
}

// dot is sum(a * b): the loss whose gradient with respect to a is b.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
