package ops

import (
	"errors"
	"fmt"

	"webpeft/engine/gpu"
)

// checkEmbedRefuses: NewTokens refuses ids outside 0..V-1, NewTargets
// refuses targets outside -1..V-1, and short buffers are refused.
func checkEmbedRefuses(d *gpu.Device) error {
	for _, ids := range [][]int{{0, 3}, {-1}, {}} {
		if b, err := NewTokens(d, "tokens", ids, 3); err == nil {
			b.Free()
			return fmt.Errorf("tokens %v with V = 3 were accepted", ids)
		}
	}
	for _, ids := range [][]int{{0, 3}, {-2}} {
		if b, err := NewTargets(d, "targets", ids, 3); err == nil {
			b.Free()
			return fmt.Errorf("targets %v with V = 3 were accepted", ids)
		}
	}
	b, err := NewTargets(d, "targets", []int{-1, 2}, 3)
	if err != nil {
		return err
	}
	b.Free()
	e, err := NewEmbed(d)
	if err != nil {
		return err
	}
	tok, err := NewTokens(d, "tokens", []int{0, 2}, 3)
	if err != nil {
		return err
	}
	defer tok.Free()
	buf, err := d.NewBuffer("buf", 4*3*4)
	if err != nil {
		return err
	}
	defer buf.Free()
	if _, err := e.F32(buf, buf, tok, 3, 3, 4); err == nil {
		return errors.New("3 tokens in a buffer of 2 ids were accepted")
	}
	if _, err := e.F32(buf, buf, tok, 2, 4, 4); err == nil {
		return errors.New("a (4, 4) table in a buffer of 12 floats was accepted")
	}
	return nil
}
