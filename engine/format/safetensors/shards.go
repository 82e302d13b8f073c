package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// The file names transformers' save_pretrained uses for a checkpoint.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// maxIndexLen bounds the index JSON read into memory; real ones are well
// under a megabyte even for thousands of tensors.
const maxIndexLen = 64 << 20

// Checkpoint is a model's weights as one tensor index, whether they are in
// one model.safetensors or sharded over the files an index names.
type Checkpoint struct {
	Shards []Shard // sorted by name

	where map[string]tensorRef
}

// Shard is one open file of a checkpoint.
type Shard struct {
	Name string // path inside the checkpoint's file system
	*File

	closer io.Closer
}

type tensorRef struct{ shard, index int }

// OpenDir opens the checkpoint in the directory dir (native builds).
func OpenDir(dir string) (*Checkpoint, error) { return OpenFS(os.DirFS(dir)) }

// OpenFS opens the checkpoint at the root of fsys: model.safetensors.index.json
// and the shards its weight_map names, or else a single model.safetensors.
// The files must implement io.ReaderAt (os.DirFS's do; a browser-side
// fs.FS over File objects can). The index and the shards must agree:
// every tensor the index names is in its shard, and no shard holds a
// tensor the index does not name or that another shard also holds.
func OpenFS(fsys fs.FS) (*Checkpoint, error) {
	index, err := readIndex(fsys)
	if errors.Is(err, fs.ErrNotExist) {
		return openSingle(fsys)
	}
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{where: map[string]tensorRef{}}
	if err := c.openShards(fsys, index); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func openSingle(fsys fs.FS) (*Checkpoint, error) {
	c := &Checkpoint{where: map[string]tensorRef{}}
	err := c.addShard(fsys, SingleFile)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("safetensors: found neither %s nor %s", IndexFile, SingleFile)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readIndex reads the index's weight_map (tensor name -> shard file).
func readIndex(fsys fs.FS) (map[string]string, error) {
	f, err := fsys.Open(IndexFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIndexLen+1))
	if err != nil {
		return nil, fmt.Errorf("safetensors: reading %s: %w", IndexFile, err)
	}
	if len(data) > maxIndexLen {
		return nil, fmt.Errorf("safetensors: %s is over %d bytes", IndexFile, maxIndexLen)
	}
	weightMap, err := parseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", IndexFile, err)
	}
	return weightMap, nil
}

// parseIndex extracts "weight_map", refusing duplicate tensor names (which
// encoding/json would silently resolve) and non-string shard names.
func parseIndex(data []byte) (map[string]string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	raw, ok := top["weight_map"]
	if !ok || string(raw) == "null" {
		return nil, errors.New(`no "weight_map"`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	m := map[string]string{}
	err := readObject(dec, "weight_map", func(key string) error {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("weight_map: %w", err)
		}
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("weight_map[%q] is %v, not a file name", key, tok)
		}
		m[key] = s
		return nil
	})
	if err == nil && len(m) == 0 {
		err = errors.New("weight_map lists no tensors")
	}
	return m, err
}

// openShards opens every file the weight map names and checks that the
// map and the files' headers agree.
func (c *Checkpoint) openShards(fsys fs.FS, weightMap map[string]string) error {
	var names []string
	for _, shard := range weightMap {
		if !slices.Contains(names, shard) {
			names = append(names, shard)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := c.addShard(fsys, name); err != nil {
			return err
		}
	}
	for tensor, shard := range weightMap {
		ref, ok := c.where[tensor]
		if !ok || c.Shards[ref.shard].Name != shard {
			return fmt.Errorf("safetensors: %s puts tensor %q in %s, which does not hold it", IndexFile, tensor, shard)
		}
	}
	for tensor, ref := range c.where {
		if _, ok := weightMap[tensor]; !ok {
			return fmt.Errorf("safetensors: %s holds tensor %q, which %s does not list", c.Shards[ref.shard].Name, tensor, IndexFile)
		}
	}
	return nil
}

// addShard opens one file and adds its tensors to the index.
func (c *Checkpoint) addShard(fsys fs.FS, name string) error {
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	file, err := openFSFile(f, name)
	if err != nil {
		f.Close()
		return err
	}
	c.Shards = append(c.Shards, Shard{Name: name, File: file, closer: f})
	for i, t := range file.Tensors {
		if prev, dup := c.where[t.Name]; dup {
			return fmt.Errorf("safetensors: tensor %q is in both %s and %s", t.Name, c.Shards[prev.shard].Name, name)
		}
		c.where[t.Name] = tensorRef{len(c.Shards) - 1, i}
	}
	return nil
}

func openFSFile(f fs.File, name string) (*File, error) {
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: the file system's files cannot be read at offsets (no ReadAt)", name)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", name, err)
	}
	file, err := Open(ra, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return file, nil
}

// Tensor returns the file holding the tensor named name and its entry.
func (c *Checkpoint) Tensor(name string) (*File, *TensorInfo, error) {
	ref, ok := c.where[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors: checkpoint has no tensor %q", name)
	}
	f := c.Shards[ref.shard].File
	return f, &f.Tensors[ref.index], nil
}

// Names lists every tensor of the checkpoint, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.where))
	for n := range c.where {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close closes every shard file.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, s := range c.Shards {
		if s.closer != nil {
			errs = append(errs, s.closer.Close())
		}
	}
	c.Shards = nil
	return errors.Join(errs...)
}
