// Package shaders holds every WGSL kernel of webpeft as a real .wgsl file.
//
// One kernel per file, named <op>_<pass>.wgsl, entry point main, valid WGSL
// as written. Shared snippets (e.g. quantized block decoders) live in their
// own files and are prepended by engine/gpu, never produced by templating.
package shaders

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed *.wgsl
var files embed.FS

// Source returns the text of the named file (e.g. "add_fwd.wgsl").
func Source(name string) (string, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("shaders: no file %q", name)
	}
	return string(b), nil
}

// Names lists every embedded .wgsl file.
func Names() []string {
	names, _ := fs.Glob(files, "*.wgsl")
	return names
}
