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

// TestLaneSplitTiles checks the large-tile grids (32x32 and 16x32 per
// invocation) like TestLaneSplit: y covered once over, no idle workgroup
// row or column, and bigTiles only where M and N fill 4 tiles of 32.
func TestLaneSplitTiles(t *testing.T) {
	for _, tt := range []struct{ tm, tn int }{{rb32, rb32}, {rbTile, rb32}} {
		for _, s := range []struct{ M, N int }{{1024, 1024}, {256, 1536}, {1, 1}, {37, 8}, {8, 576}, {300, 70}, {290, 300}, {128, 4096}} {
			grid, cols := rbGridTile(s.M, s.N, tt.tm, tt.tn)
			rows := rbWG / cols
			if int(grid.X)*cols*tt.tn < s.N || int(grid.Y)*rows*tt.tm < s.M {
				t.Errorf("%dx%d tiles, M=%d N=%d: grid %v of %dx%d lanes does not cover y", tt.tm, tt.tn, s.M, s.N, grid, rows, cols)
			}
			if (int(grid.X)-1)*cols*tt.tn >= s.N || (int(grid.Y)-1)*rows*tt.tm >= s.M {
				t.Errorf("%dx%d tiles, M=%d N=%d: grid %v has a workgroup row or column with nothing to do", tt.tm, tt.tn, s.M, s.N, grid)
			}
		}
	}
	for _, s := range []struct {
		M, N int
		big  bool
	}{{1024, 1024, true}, {256, 1536, true}, {128, 128, true}, {127, 4096, false}, {1, 576, false}, {4096, 16, false}} {
		if got := bigTiles(s.M, s.N); got != s.big {
			t.Errorf("bigTiles(%d, %d) = %v, want %v", s.M, s.N, got, s.big)
		}
	}
}
