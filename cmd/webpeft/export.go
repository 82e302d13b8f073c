package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"webpeft/engine/model"
	"webpeft/engine/peft"
)

// cmdExport writes an adapter as a Hugging Face PEFT folder or a
// llama.cpp GGUF LoRA file. A native folder records its base model, so
// no model is needed; --model checks that the adapter fits one (and is
// needed to convert a PEFT folder or GGUF file, which do not say enough
// about their model).
func cmdExport(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	adapter := fs.String("adapter", "", "the adapter: a webpeft folder (train --out), a Hugging Face PEFT folder or a GGUF LoRA file")
	format := fs.String("format", "peft", "peft (Hugging Face PEFT folder) or gguf (llama.cpp LoRA file)")
	dst := fs.String("out", "", "output folder (peft) or file (gguf)")
	modelPath := fs.String("model", "", "base model (GGUF file or HF folder): check the adapter against it")
	baseName := fs.String("base-name", "", "base model name to record (PEFT's base_model_name_or_path, e.g. a Hub id; default: the model's name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adapter == "" || *dst == "" || (*format != "peft" && *format != "gguf") {
		return errors.New("usage: webpeft export --adapter DIR --format peft|gguf --out PATH [--model MODEL] [--base-name NAME]")
	}
	set, params, info, err := exportSource(*adapter, *modelPath)
	if err != nil {
		return err
	}
	if *baseName != "" {
		info.Name = *baseName
	}
	if *format == "gguf" {
		return writeAtomically(*dst, func(w io.Writer) error { return peft.ExportGGUF(w, set, params, info) }, out)
	}
	cfg, ts, err := peft.ExportPEFT(set, params, info)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dst, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{peft.TensorsFile, ts}, {peft.ConfigFile, cfg}} {
		data := f.data
		err := writeAtomically(filepath.Join(*dst, f.name), func(w io.Writer) error { _, err := w.Write(data); return err }, out)
		if err != nil {
			return err
		}
	}
	return nil
}

// exportSource reads the adapter to export and the model info to export
// it with: the model's when --model is given (the adapter is read for
// it, so it must fit), else what a native folder records.
func exportSource(adapter, modelPath string) (*peft.Set, []float32, peft.ModelInfo, error) {
	if modelPath != "" {
		m, err := model.Open(modelPath)
		if err != nil {
			return nil, nil, peft.ModelInfo{}, err
		}
		defer m.Close()
		set, params, err := readAdapter(adapter, m.Spec)
		return set, params, model.PEFTInfo(m.Spec), err
	}
	kind, err := adapterKind(adapter)
	if err != nil {
		return nil, nil, peft.ModelInfo{}, err
	}
	if kind != kindNative {
		return nil, nil, peft.ModelInfo{}, fmt.Errorf("%s: %w", adapter, errNoModelInfo)
	}
	set, params, info, err := readNative(adapter, nil)
	if err != nil {
		return nil, nil, peft.ModelInfo{}, fmt.Errorf("%s: %w", adapter, err)
	}
	if info == nil {
		return nil, nil, peft.ModelInfo{}, fmt.Errorf("%s: %w", adapter, errNoModelInfo)
	}
	return set, params, *info, nil
}
