package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

const mergeUsage = "usage: webpeft merge --model MODEL --adapter PATH[:WEIGHT] [--adapter PATH[:WEIGHT] ...] --out MERGED [--format gguf|safetensors] [--type f32|f16|q8_0|q4_0|q4_k|q6_k]"

// cmdMerge folds LoRA and IA3 adapters into the base model's weights
// (model.Merge; several adapters are combined first with peft.Combine)
// and writes the merged model as a GGUF file or a Hugging Face folder,
// which then loads and runs like any model, without the adapter.
func cmdMerge(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	modelPath := fs.String("model", "", "base model: GGUF file or Hugging Face folder")
	var adapters adapterList
	fs.Var(&adapters, "adapter", "fold this adapter in, PATH[:WEIGHT] (weight default 1), repeatable: a webpeft folder, a Hugging Face PEFT folder or a llama.cpp GGUF LoRA file; LoRA and IA3 only")
	dst := fs.String("out", "", "the merged model: a GGUF file (gguf) or a folder (safetensors)")
	format := fs.String("format", "gguf", "gguf (llama.cpp file) or safetensors (Hugging Face folder, F32)")
	typ := fs.String("type", "", "gguf tensor type of the 2-D weights: f32, f16, q8_0, q4_0, q4_k or q6_k (default: f32 for an F32, F16 or BF16 base, else q8_0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || len(adapters) == 0 || *dst == "" || fs.NArg() > 0 {
		return errors.New(mergeUsage)
	}
	if *format != "gguf" && *format != "safetensors" {
		return fmt.Errorf("--format %s: want gguf or safetensors", *format)
	}
	if *format == "safetensors" && *typ != "" && !strings.EqualFold(*typ, "f32") {
		return fmt.Errorf("--type %s: safetensors output is a Hugging Face folder in F32 only; use --format gguf to store %s weights", *typ, *typ)
	}
	if samePath(*dst, *modelPath) {
		return fmt.Errorf("--out %s is the base model: write the merged model elsewhere", *dst)
	}
	var outType tensor.Type
	if *typ != "" {
		t, err := parseConvertType(*typ)
		if err != nil {
			return err
		}
		outType = t
	}
	m, err := model.Open(*modelPath)
	if err != nil {
		return err
	}
	defer m.Close()
	if *typ == "" {
		outType = defaultMergeType(m.Spec)
	}
	start := time.Now()
	merged, set, err := mergeAdapters(m, adapters)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s into %s", describeSet(set), m.Spec.Name)
	if *format == "safetensors" {
		outType = tensor.F32
		fmt.Fprintf(os.Stderr, "webpeft: merging %s, writing a Hugging Face folder (F32)\n", what)
		err = writeHFAtomically(*dst, merged, out)
	} else {
		fmt.Fprintf(os.Stderr, "webpeft: merging %s, writing GGUF (%s)\n", what, outType)
		err = writeAtomically(*dst, func(w io.Writer) error { return model.WriteGGUF(w, merged, outType) }, out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "webpeft: merged %s -> %s (%s %s, %.1f MB) in %.1fs\n", adapters.String(), *dst,
		*format, outType, float64(sizeOf(*dst))/(1<<20), time.Since(start).Seconds())
	return nil
}

// mergeAdapters reads the adapters of list for m, refuses any with a
// method that cannot be merged (naming the adapter; model.Merge says
// why), combines them and folds the result into m's weights. The merge is
// lazy: tensors are changed as the writer reads them.
func mergeAdapters(m *model.Model, list adapterList) (*model.Model, *peft.Set, error) {
	ws, err := readWeighted(list, m.Spec)
	if err != nil {
		return nil, nil, err
	}
	for i, w := range ws {
		// Cheap: Merge only prepares the per-tensor changes.
		if _, err := model.Merge(m, w.Set, w.Params); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", list[i].Path, err)
		}
	}
	set, params, err := combine(list, ws)
	if err != nil {
		return nil, nil, err
	}
	merged, err := model.Merge(m, set, params)
	return merged, set, err
}

// defaultMergeType is the GGUF type of a merged model's matrices when
// --type is not given: F32 when the base's matrices are all F32, F16 or
// BF16, so that the merge loses nothing (the folded deltas are often
// below F16's resolution of the weights); Q8_0 for a quantized base,
// close to the base's size and far more precise than its own blocks.
func defaultMergeType(s *model.Spec) tensor.Type {
	for _, t := range s.Tensors {
		if len(t.Shape) >= 2 && !slices.Contains([]string{"F32", "F16", "BF16"}, t.Type) {
			return tensor.Q8_0
		}
	}
	return tensor.F32
}

// parseConvertType parses a --type that WriteGGUF can write.
func parseConvertType(name string) (tensor.Type, error) {
	t, err := tensor.ParseType(strings.ToUpper(name))
	if err != nil || !slices.Contains(model.ConvertTypes, t) {
		return 0, fmt.Errorf("--type %s: want one of %v", name, model.ConvertTypes)
	}
	return t, nil
}

// writeHFAtomically writes m as a Hugging Face folder at dir: into a
// temporary folder beside it first, whose files move into dir only when
// all were written, so a failure leaves no half-written model.
func writeHFAtomically(dir string, m *model.Model, out io.Writer) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("--out %s is a file; --format safetensors writes a folder", dir)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".webpeft-*.tmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := model.WriteHF(tmp, m); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(tmp, f.Name()), filepath.Join(dir, f.Name())); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote %s\n", dir)
	return nil
}

// samePath reports whether a and b name one existing file or folder.
func samePath(a, b string) bool {
	x, err1 := os.Stat(a)
	y, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(x, y)
}

// sizeOf is the bytes of a file, or of the files in a folder.
func sizeOf(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
