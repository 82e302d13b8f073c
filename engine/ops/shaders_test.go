package ops_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webpeft/shaders"
)

// TestEveryShaderIsUsed guards against stale copies in shaders/: every
// .wgsl file must be named by the Go code of engine/ops.
func TestEveryShaderIsUsed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code.Write(b)
	}
	for _, name := range shaders.Names() {
		if !strings.Contains(code.String(), `"`+name+`"`) {
			t.Errorf("shaders/%s is not used by any op in engine/ops", name)
		}
	}
}
