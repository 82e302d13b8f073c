package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"webpeft/engine/gpu"

	"webpeft/engine/model"
)

// logitsJSON is the output of `webpeft logits`, the format of the
// testdata's X.logits.json.
type logitsJSON struct {
	NVocab int         `json:"n_vocab"`
	Logits [][]float32 `json:"logits"`
}

// cmdLogits runs the forward pass over a token sequence at positions
// 0..T-1, on the GPU (default) or the pure-Go CPU reference.
func cmdLogits(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("logits", flag.ContinueOnError)
	path := fs.String("model", "", "model file (GGUF) or Hugging Face folder")
	tokens := fs.String("tokens", "", `token ids, e.g. "1 2 3"`)
	all := fs.Bool("all", false, "print one row per position, not only the last")
	device := fs.String("device", "gpu", "where to run: gpu (WebGPU) or cpu (the pure-Go reference)")
	var adapters adapterList
	fs.Var(&adapters, "adapter", "apply an adapter (GPU only; repeat, PATH[:WEIGHT], to stack)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || *tokens == "" {
		return errors.New(`usage: webpeft logits --model MODEL --tokens "1 2 3" [--all] [--device gpu|cpu]`)
	}
	if *device != "cpu" && *device != "gpu" {
		return fmt.Errorf("--device %s: want gpu or cpu", *device)
	}
	if *device == "cpu" && len(adapters) > 0 {
		return errors.New("--adapter runs on the GPU only (leave out --device cpu)")
	}
	m, err := model.Open(*path)
	if err != nil {
		return err
	}
	defer m.Close()
	ids, err := parseIDs(*tokens, m.Spec.Vocab)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("--tokens holds no token ids")
	}
	if m.Spec.Context > 0 && len(ids) > m.Spec.Context {
		return fmt.Errorf("%d tokens are more than the model's context of %d", len(ids), m.Spec.Context)
	}
	var rows [][]float32
	if *device == "cpu" {
		fmt.Fprintf(os.Stderr, "webpeft: %d tokens through %s on the CPU reference\n", len(ids), m.Spec.Arch)
		if rows, err = model.ReferenceLogits(m, ids); err == nil && !*all {
			rows = rows[len(rows)-1:]
		}
	} else {
		rows, err = gpuLogits(m, ids, *all, adapters)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(logitsJSON{NVocab: m.Spec.Vocab, Logits: rows})
}

func gpuLogits(m *model.Model, ids []int, all bool, adapters adapterList) ([][]float32, error) {
	g, err := loadGPU(m)
	if err != nil {
		return nil, err
	}
	defer g.Free()
	ad, err := loadAdapters(g, adapters)
	if err != nil {
		return nil, err
	}
	defer ad.Free()
	fmt.Fprintf(os.Stderr, "webpeft: %d tokens through %s on %s\n", len(ids), m.Spec.Arch, g.Device().Info.Name)
	return g.AdapterLogits(ids, all, ad)
}

// loadGPU opens the GPU and uploads m, reporting progress on stderr.
func loadGPU(m *model.Model) (*model.GPU, error) {
	d, err := openDevice()
	if err != nil {
		return nil, err
	}
	start, last := time.Now(), time.Now()
	g, err := model.LoadGPU(d, m, model.LoadOptions{Progress: func(done, total int64) {
		if time.Since(last) > time.Second {
			last = time.Now()
			fmt.Fprintf(os.Stderr, "webpeft: uploading weights: %d / %d MB\n", done>>20, total>>20)
		}
	}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "webpeft: %s on %s: %.1f MB of weights in %.1fs\n", m.Spec.Name, d.Info.Name,
		float64(g.WeightBytes)/(1<<20), time.Since(start).Seconds())
	return g, nil
}

// The command opens one GPU device per process and keeps it until the
// process ends: wgpu-native has been seen to mix up a second device's
// resources with a closed first one's in one process ("Attempt to use a
// resource with a different device"), which the tests, running several
// commands in one process, would otherwise meet.
var (
	deviceOnce sync.Once
	device     *gpu.Device
	deviceErr  error
)

func openDevice() (*gpu.Device, error) {
	deviceOnce.Do(func() { device, deviceErr = gpu.Open() })
	return device, deviceErr
}
