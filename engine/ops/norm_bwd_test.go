//go:build !js

package ops

import (
	"testing"

	"webpeft/engine/gpu/gputest"
)

// TestNormBackward2DGrid runs both norms' backward passes over 70001 rows,
// more workgroups than one grid dimension holds, so the dinp pass's grid is
// 2-D. Native only: on SwiftShader one such case takes ~50 s, too long for
// the browser's ops.Cases().
func TestNormBackward2DGrid(t *testing.T) {
	d := gputest.Device(t)
	for _, layer := range []bool{false, true} {
		// RMSNorm overwriting, LayerNorm accumulating.
		if err := checkNormBackward(d, layer, []normShape{{70001, 3, 0.5}}, layer, normWant{dinp: true, params: true}, false); err != nil {
			t.Error(err)
		}
	}
}
