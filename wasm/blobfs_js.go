//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/hack-pad/safejs"
)

// blobFS is an fs.FS over JS Blobs by name: a Hugging Face model folder
// the user picked (input type=file webkitdirectory), or the files of a
// Hub repository in the model cache. model.OpenHF reads it; its files
// read with ReadAt, slice by slice, so a model never enters memory whole.
type blobFS map[string]*blobReader

// newBlobFS reads [{name, data: Blob}] (names relative to the folder,
// "/"-separated).
func newBlobFS(list safejs.Value) (blobFS, error) {
	n, err := list.Length()
	if err != nil {
		return nil, errors.New("a model folder is a list of {name, data} files")
	}
	out := blobFS{}
	for i := 0; i < n; i++ {
		f, _ := list.Index(i)
		nv, _ := f.Get("name")
		name, _ := nv.String()
		name = strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(name, "\\", "/")), "/")
		dv, _ := f.Get("data")
		b, err := newBlobReader(dv)
		if err != nil {
			return nil, fmt.Errorf("model file %q: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

func (f blobFS) names() []string {
	var out []string
	for n := range f {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f blobFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	b, ok := f[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &blobFile{name: path.Base(name), r: b}, nil
}

// blobFile is an open file of a blobFS: Read, ReadAt, Stat.
type blobFile struct {
	name string
	r    *blobReader
	off  int64
}

func (f *blobFile) Read(p []byte) (int, error) {
	if f.off >= f.r.size {
		return 0, io.EOF
	}
	if rest := f.r.size - f.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := f.r.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *blobFile) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }
func (f *blobFile) Stat() (fs.FileInfo, error)              { return blobInfo{f.name, f.r.size}, nil }
func (f *blobFile) Close() error                            { return nil }

type blobInfo struct {
	name string
	size int64
}

func (i blobInfo) Name() string       { return i.name }
func (i blobInfo) Size() int64        { return i.size }
func (i blobInfo) Mode() fs.FileMode  { return 0o444 }
func (i blobInfo) ModTime() time.Time { return time.Time{} }
func (i blobInfo) IsDir() bool        { return false }
func (i blobInfo) Sys() any           { return nil }
