//go:build !js

package model

import (
	"testing"

	"webpeft/engine/gpu/gputest"
)

// TestGPUCases runs the whole-model checks (Cases) on the native adapter;
// the browser runs the same list through wasm.
func TestGPUCases(t *testing.T) {
	d := gputest.Device(t)
	figures := map[string]string{}
	for _, c := range Cases(func(name, fig string) { figures[name] = fig }, false) {
		t.Run(c.Name, func(t *testing.T) {
			err := c.Run(d)
			t.Logf("%s: %s", c.Name, figures[c.Name])
			if err != nil {
				t.Error(err)
			}
		})
	}
}
