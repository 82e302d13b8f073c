package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// loadAdapter reads the adapter at path (any kind readAdapter takes) and
// uploads it for g; "" means none.
func loadAdapter(g *model.GPU, path string) (*model.Adapter, error) {
	if path == "" {
		return nil, nil
	}
	set, params, err := readAdapter(path, g.Spec)
	if err != nil {
		return nil, err
	}
	return g.NewAdapter(set, params)
}

// errNoModelInfo: exporting needs the model's description.
var errNoModelInfo = errors.New("the adapter does not record its base model (a native folder from before webpeft recorded it, a PEFT folder or a GGUF file): pass --model")
