package train

import (
	"fmt"
	"math"
)

// Schedule is a learning-rate schedule: linear warmup over Warmup steps,
// then "constant", "linear" (to zero at Steps) or "cosine" (to zero at
// Steps).
type Schedule struct {
	Kind   string
	LR     float64
	Warmup int
	Steps  int
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "", "constant", "linear", "cosine":
	default:
		return fmt.Errorf("train: schedule %q: want constant, linear or cosine", s.Kind)
	}
	if !(s.LR > 0) || math.IsInf(s.LR, 0) {
		return fmt.Errorf("train: learning rate %v must be positive", s.LR)
	}
	if s.Warmup < 0 || s.Steps < 1 {
		return fmt.Errorf("train: warmup %d, steps %d", s.Warmup, s.Steps)
	}
	return nil
}

// At returns the learning rate of optimizer step (1-based).
func (s Schedule) At(step int) float64 {
	if step <= s.Warmup && s.Warmup > 0 {
		return s.LR * float64(step) / float64(s.Warmup)
	}
	if s.Steps <= s.Warmup {
		return s.LR
	}
	p := float64(step-s.Warmup) / float64(s.Steps-s.Warmup)
	p = math.Min(math.Max(p, 0), 1)
	switch s.Kind {
	case "linear":
		return s.LR * (1 - p)
	case "cosine":
		return s.LR * 0.5 * (1 + math.Cos(math.Pi*p))
	}
	return s.LR
}
