package ops

import "testing"

// TestLaneSplit checks that the register-blocked grid covers y exactly once
// over, wastes few lanes on narrow products, and stays square for large ones.
func TestLaneSplit(t *testing.T) {
	cases := []struct{ M, N, cols int }{
		{1024, 1024, 8}, {256, 1536, 8}, // square 128x128 blocks
		{37, 8, 1},   // N of one tile: every lane along M
		{8, 576, 64}, // M of one tile: every lane along N
		{1, 1, 1},
		{300, 70, 8},
		{37, 257, 16},
	}
	for _, c := range cases {
		grid, cols := rbGrid(c.M, c.N)
		if cols != c.cols {
			t.Errorf("M=%d N=%d: cols = %d, want %d", c.M, c.N, cols, c.cols)
		}
		rows := rbWG / cols
		if int(grid.X)*cols*rbTile < c.N || int(grid.Y)*rows*rbTile < c.M {
			t.Errorf("M=%d N=%d: grid %v of %dx%d lanes does not cover y", c.M, c.N, grid, rows, cols)
		}
		if (int(grid.X)-1)*cols*rbTile >= c.N || (int(grid.Y)-1)*rows*rbTile >= c.M {
			t.Errorf("M=%d N=%d: grid %v has a workgroup row or column with nothing to do", c.M, c.N, grid)
		}
	}
}

func TestPow2Ceil(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 4, 8: 8, 9: 16, 65: 128} {
		if got := pow2Ceil(n); got != want {
			t.Errorf("pow2Ceil(%d) = %d, want %d", n, got, want)
		}
	}
}
