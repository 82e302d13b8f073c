package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"webpeft/engine/model"
	"webpeft/engine/peft"
)

// Adapter kinds that --adapter accepts.
const (
	kindNative = "native" // webpeft's own folder (webpeft train --out)
	kindPEFT   = "peft"   // a Hugging Face PEFT folder
	kindGGUF   = "gguf"   // a llama.cpp GGUF LoRA file
)

// adapterKind tells the adapter formats apart: a file is a GGUF LoRA; a
// folder's adapter_config.json says whether it is webpeft's native
// format or Hugging Face PEFT's.
func adapterKind(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return kindGGUF, nil
	}
	cfg, err := os.ReadFile(filepath.Join(path, peft.ConfigFile))
	if err != nil {
		return "", fmt.Errorf("%s: not an adapter folder: %w", path, err)
	}
	if peft.IsNative(cfg) {
		return kindNative, nil
	}
	var hf struct {
		PeftType *string `json:"peft_type"`
	}
	if json.Unmarshal(cfg, &hf) == nil && hf.PeftType != nil {
		return kindPEFT, nil
	}
	return "", fmt.Errorf("%s: %s is neither webpeft's nor Hugging Face PEFT's", path, peft.ConfigFile)
}

// readAdapter reads the adapter at path — a native folder, a PEFT folder
// or a GGUF LoRA file — for the model of spec, refusing one that does not
// fit it. The parameters come back in the model's Q/K row order.
func readAdapter(path string, spec *model.Spec) (*peft.Set, []float32, error) {
	kind, err := adapterKind(path)
	if err != nil {
		return nil, nil, err
	}
	dims, base := model.PEFTDims(spec), model.PEFTInfo(spec)
	var set *peft.Set
	var params []float32
	switch kind {
	case kindNative:
		set, params, err = readNativeFor(path, dims, base)
	case kindPEFT:
		var cfg, ts []byte
		if cfg, ts, err = readFolder(path); err == nil {
			set, params, err = peft.ImportPEFT(cfg, ts, dims, base)
		}
	case kindGGUF:
		var f *os.File
		if f, err = os.Open(path); err == nil {
			defer f.Close()
			var st os.FileInfo
			if st, err = f.Stat(); err == nil {
				set, params, err = peft.ImportGGUF(f, st.Size(), dims, base)
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, params, nil
}

// readFolder reads an adapter folder's two files.
func readFolder(dir string) (cfg, tensors []byte, err error) {
	if cfg, err = os.ReadFile(filepath.Join(dir, peft.ConfigFile)); err != nil {
		return nil, nil, err
	}
	tensors, err = os.ReadFile(filepath.Join(dir, peft.TensorsFile))
	return cfg, tensors, err
}

// readNative reads a native folder; want (nil: any) checks the dims.
func readNative(dir string, want *peft.Dims) (*peft.Set, []float32, *peft.ModelInfo, error) {
	cfg, ts, err := readFolder(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	return peft.ReadNative(cfg, ts, want)
}

// readNativeFor reads a native folder for the model base describes,
// moving its parameters to the model's Q/K row order when it was trained
// on the same model in the other order (a llama GGUF file and its Hugging
// Face folder). Folders that record no model load as they are.
func readNativeFor(dir string, dims peft.Dims, base peft.ModelInfo) (*peft.Set, []float32, error) {
	set, params, info, err := readNative(dir, &dims)
	if err != nil || info == nil {
		return set, params, err
	}
	if err := info.Fits(base); err != nil {
		return nil, nil, err
	}
	if info.PermutedQK != base.PermutedQK {
		params, err = set.Reorder(params, base.Heads, base.KVHeads, base.PermutedQK)
	}
	return set, params, err
}

// adapterArg is one --adapter argument, PATH[:WEIGHT].
type adapterArg struct {
	Path   string
	Weight float64 // 1: as trained
}

func (a adapterArg) String() string {
	if a.Weight == 1 {
		return a.Path
	}
	return fmt.Sprintf("%s:%g", a.Path, a.Weight)
}

// parseAdapterArg splits PATH[:WEIGHT]. Only what follows the last colon
// can be a weight, and only when it is a number, so paths holding colons
// still work; a path that exists as written (a folder "run:2") is taken
// whole unless the part before the colon exists too.
func parseAdapterArg(s string) (adapterArg, error) {
	whole := adapterArg{Path: s, Weight: 1}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return whole, nil
	}
	w, err := strconv.ParseFloat(s[i+1:], 64)
	if err != nil {
		return whole, nil
	}
	path := s[:i]
	if exists(s) && !exists(path) {
		return whole, nil
	}
	if path == "" {
		return adapterArg{}, fmt.Errorf("--adapter %s: no path before the weight", s)
	}
	if math.IsNaN(w) || math.IsInf(w, 0) {
		return adapterArg{}, fmt.Errorf("--adapter %s: the weight must be a finite number", s)
	}
	return adapterArg{Path: path, Weight: w}, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// adapterList is the repeatable --adapter flag: --adapter A --adapter B:0.5.
type adapterList []adapterArg

func (l *adapterList) String() string {
	var parts []string
	for _, a := range *l {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

func (l *adapterList) Set(v string) error {
	a, err := parseAdapterArg(v)
	if err != nil {
		return err
	}
	*l = append(*l, a)
	return nil
}

// adapterUsage is the help text of --adapter in generate, eval and merge.
const adapterUsage = "apply this adapter, PATH[:WEIGHT] (weight default 1), repeatable to stack adapters: " +
	"a webpeft folder (train --out), a Hugging Face PEFT folder or a llama.cpp GGUF LoRA file"

// readWeighted reads every adapter of list for the model of spec.
func readWeighted(list adapterList, spec *model.Spec) ([]peft.Weighted, error) {
	var ws []peft.Weighted
	for _, a := range list {
		set, params, err := readAdapter(a.Path, spec)
		if err != nil {
			return nil, err
		}
		ws = append(ws, peft.Weighted{Set: set, Params: params, Weight: a.Weight})
	}
	return ws, nil
}

// combine makes one set of the adapters read from list (peft.Combine:
// LoRAs summed with their weights, IA3 vectors multiplied, other methods
// at most once), naming the adapters when they cannot be combined.
func combine(list adapterList, ws []peft.Weighted) (*peft.Set, []float32, error) {
	set, params, err := peft.Combine(ws...)
	if err != nil {
		return nil, nil, fmt.Errorf("combining %s: %w", list.String(), err)
	}
	return set, params, nil
}

// readAdapters reads the adapters of list for the model of spec and
// combines them into one set; nil when list is empty.
func readAdapters(list adapterList, spec *model.Spec) (*peft.Set, []float32, error) {
	if len(list) == 0 {
		return nil, nil, nil
	}
	ws, err := readWeighted(list, spec)
	if err != nil {
		return nil, nil, err
	}
	return combine(list, ws)
}

// loadAdapters reads and combines the adapters of list (readAdapters) and
// uploads the result for g; an empty list means none (nil). g stays as it
// is: the adapter is freed with its Free, and another can be loaded.
func loadAdapters(g *model.GPU, list adapterList) (*model.Adapter, error) {
	set, params, err := readAdapters(list, g.Spec)
	if set == nil || err != nil {
		return nil, err
	}
	if len(list) > 1 || list[0].Weight != 1 {
		fmt.Fprintf(os.Stderr, "webpeft: adapters %s combined: %s\n", list.String(), describeSet(set))
	}
	return g.NewAdapter(set, params)
}

// describeSet names a set's methods, e.g. "lora r12 on q,v + ia3".
func describeSet(set *peft.Set) string {
	var parts []string
	for _, c := range set.Configs {
		switch c.Method {
		case peft.LoRA:
			parts = append(parts, fmt.Sprintf("lora r%d on %s", c.Rank, strings.Join(c.Targets, ",")))
		default:
			parts = append(parts, c.Method)
		}
	}
	return strings.Join(parts, " + ")
}

// errNoModelInfo: exporting needs the model's description.
var errNoModelInfo = errors.New("the adapter does not record its base model (a native folder from before webpeft recorded it, a PEFT folder or a GGUF file): pass --model")
