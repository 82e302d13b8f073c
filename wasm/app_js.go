//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hack-pad/safejs"

	"webpeft/engine/gpu"
	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tokenizer"
	"webpeft/engine/train"
)

// app is the engine behind the web app: one GPU device and one loaded
// model per worker, the current adapter (trained or loaded), and the
// running operation's stop and pause controls. Calls that use the GPU run
// one at a time.
type app struct {
	mu   sync.Mutex
	busy string // the operation running now ("" when idle)

	dev    *gpu.Device
	cal    *model.Calibration // dev's measured speed, for time estimates (nil: not measured)
	m      *model.Model
	g      *model.GPU
	tok    *tokenizer.Tokenizer
	source string // where the model came from
	closer func()

	set     *peft.Set // the current adapter, nil when none
	params  []float32
	ad      *model.Adapter
	adName  string
	adSteps int

	opCtx   context.Context // the running operation's; stop cancels it
	cancel  context.CancelFunc
	paused  bool
	resumed chan struct{} // closed by resume
}

var engine = &app{}

// jsAPI lists the app's functions on globalThis.webpeft. Options and
// results are JSON strings (events too); byte payloads are Uint8Arrays.
func (a *app) jsAPI() map[string]func(this safejs.Value, args []safejs.Value) any {
	return map[string]func(this safejs.Value, args []safejs.Value) any{
		// loadModel(source: Blob | URL string, optionsJSON, onEvent) -> Promise<infoJSON>
		"loadModel": func(_ safejs.Value, args []safejs.Value) any {
			src, opt, emit := arg(args, 0), jsonArg(args, 1), emitter(arg(args, 2))
			return promiseOf(func() (any, error) {
				return a.run("loading a model", func() (any, error) { return a.loadModel(src, opt, emit) })
			})
		},
		// train(optionsJSON, onEvent, save, checkpoint) -> Promise<summaryJSON>
		// save(Uint8Array, step) -> Promise, when given, keeps a checkpoint
		// every checkpointEvery steps (and when paused); checkpoint, a
		// Uint8Array that save received, resumes that run.
		"train": func(_ safejs.Value, args []safejs.Value) any {
			opt, emit, save, resume := jsonArg(args, 0), emitter(arg(args, 1)), arg(args, 2), arg(args, 3)
			return promiseOf(func() (any, error) {
				return a.run("training", func() (any, error) { return a.train(opt, emit, save, resume) })
			})
		},
		// dataStats(optionsJSON) -> Promise<statsJSON>: what train would make of the data
		"dataStats": func(_ safejs.Value, args []safejs.Value) any {
			opt := jsonArg(args, 0)
			return promiseOf(func() (any, error) { return a.dataStats(opt) })
		},
		// generate(optionsJSON, onEvent) -> Promise<text>
		"generate": func(_ safejs.Value, args []safejs.Value) any {
			opt, emit := jsonArg(args, 0), emitter(arg(args, 1))
			return promiseOf(func() (any, error) { return a.run("generating", func() (any, error) { return a.generate(opt, emit) }) })
		},
		// exportAdapter(format) -> Promise<[{name, data: Uint8Array}]>
		"exportAdapter": func(_ safejs.Value, args []safejs.Value) any {
			format := "native"
			if f := arg(args, 0); f.Type() == safejs.TypeString {
				format, _ = f.String()
			}
			return promiseOf(func() (any, error) { return a.exportAdapter(format) })
		},
		// loadAdapter([{name, data}]) -> Promise<infoJSON>
		"loadAdapter": func(_ safejs.Value, args []safejs.Value) any {
			files, err := fileList(arg(args, 0))
			return promiseOf(func() (any, error) {
				if err != nil {
					return nil, err
				}
				return a.run("loading an adapter", func() (any, error) { return a.loadAdapter(files) })
			})
		},
		// evaluate(optionsJSON, onEvent) -> Promise<{loss, perplexity, tokens}>
		"evaluate": func(_ safejs.Value, args []safejs.Value) any {
			opt, emit := jsonArg(args, 0), emitter(arg(args, 1))
			return promiseOf(func() (any, error) { return a.run("evaluating", func() (any, error) { return a.evaluate(opt, emit) }) })
		},
		// info() -> Promise<infoJSON>
		"info": func(_ safejs.Value, _ []safejs.Value) any {
			return promiseOf(func() (any, error) { return a.infoJSON() })
		},
		"pause":  func(_ safejs.Value, _ []safejs.Value) any { a.pause(); return nil },
		"resume": func(_ safejs.Value, _ []safejs.Value) any { a.resume(); return nil },
		"stop":   func(_ safejs.Value, _ []safejs.Value) any { a.stop(); return nil },
	}
}

// jsonArg reads a JSON string argument ("{}" when absent).
func jsonArg(args []safejs.Value, i int) []byte {
	v := arg(args, i)
	if v.Type() != safejs.TypeString {
		return []byte("{}")
	}
	s, _ := v.String()
	return []byte(s)
}

// emitter sends events to onEvent as JSON strings.
func emitter(onEvent safejs.Value) func(map[string]any) {
	return func(ev map[string]any) {
		if onEvent.Type() != safejs.TypeFunction {
			return
		}
		b, err := json.Marshal(ev)
		if err != nil {
			b, _ = json.Marshal(map[string]any{"type": "error", "message": err.Error()})
		}
		onEvent.Invoke(string(b))
	}
}

type namedFile struct {
	name string
	data []byte
}

// fileList reads [{name, data}] (data an ArrayBuffer or Uint8Array).
func fileList(v safejs.Value) ([]namedFile, error) {
	n, err := v.Length()
	if err != nil {
		return nil, errors.New("loadAdapter wants a list of {name, data} files")
	}
	var out []namedFile
	for i := 0; i < n; i++ {
		f, _ := v.Index(i)
		nv, _ := f.Get("name")
		name, _ := nv.String()
		dv, _ := f.Get("data")
		b, err := bytesOf(dv)
		if err != nil {
			return nil, fmt.Errorf("adapter file %q: %w", name, err)
		}
		out = append(out, namedFile{name: name, data: b})
	}
	return out, nil
}

// run runs one GPU operation at a time.
func (a *app) run(what string, f func() (any, error)) (any, error) {
	a.mu.Lock()
	if a.busy != "" {
		busy := a.busy
		a.mu.Unlock()
		return nil, fmt.Errorf("the engine is busy %s; wait for it or stop it first", busy)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.busy, a.opCtx, a.cancel, a.paused, a.resumed = what, ctx, cancel, false, nil
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.busy, a.opCtx, a.cancel, a.paused = "", nil, nil, false
		if a.resumed != nil {
			close(a.resumed)
			a.resumed = nil
		}
		a.mu.Unlock()
		cancel()
	}()
	return f()
}

// ctx returns the running operation's context (stop cancels it).
func (a *app) ctx() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opCtx == nil {
		return context.Background()
	}
	return a.opCtx
}

func (a *app) pause() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy != "" && !a.paused {
		a.paused, a.resumed = true, make(chan struct{})
	}
}

func (a *app) resume() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.paused {
		a.paused = false
		close(a.resumed)
		a.resumed = nil
	}
}

func (a *app) stop() {
	a.mu.Lock()
	cancel := a.cancel
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	a.resume()
}

// waitIfPaused blocks between training steps while paused; emit tells the
// page that the pause took effect.
func (a *app) waitIfPaused(ctx context.Context, step int, emit func(map[string]any)) {
	a.mu.Lock()
	ch := a.resumed
	a.mu.Unlock()
	if ch == nil {
		return
	}
	emit(map[string]any{"type": "paused", "step": step})
	select {
	case <-ch:
	case <-ctx.Done():
	}
	emit(map[string]any{"type": "resumed", "step": step})
}

// device opens the GPU once per worker (again after a device loss).
func (a *app) device() (*gpu.Device, error) {
	if a.dev != nil && a.dev.Lost() == nil {
		return a.dev, nil
	}
	a.freeModel()
	d, err := gpu.Open()
	if errors.Is(err, gpu.ErrNoAdapter) {
		return nil, fmt.Errorf("No WebGPU adapter is available in this browser, so webpeft cannot use your GPU. "+
			"Try a recent Chrome or Edge (WebGPU on by default), or enable WebGPU in your browser's settings. Details: %v", err)
	}
	if err != nil {
		return nil, err
	}
	if err := checkLimits(d.Limits); err != nil {
		d.Close()
		return nil, err
	}
	a.dev, a.cal = d, nil
	return d, nil
}

// checkLimits refuses a device below WebGPU's default limits, which the
// kernels assume.
func checkLimits(l gpu.Limits) error {
	var missing []string
	if l.MaxStorageBufferBindingSize < 128<<20 {
		missing = append(missing, fmt.Sprintf("storage buffer bindings of 128 MiB (it grants %d MiB)", l.MaxStorageBufferBindingSize>>20))
	}
	if l.MaxStorageBuffersPerShaderStage < 8 {
		missing = append(missing, fmt.Sprintf("8 storage buffers per shader (it grants %d)", l.MaxStorageBuffersPerShaderStage))
	}
	if l.MaxComputeInvocationsPerWorkgroup < 256 {
		missing = append(missing, fmt.Sprintf("256 invocations per workgroup (it grants %d)", l.MaxComputeInvocationsPerWorkgroup))
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("This GPU's WebGPU limits are too small for webpeft: it needs %s. Try another browser or device (a desktop Chrome or Edge), or update the GPU driver.", strings.Join(missing, ", "))
}

func (a *app) freeAdapter() {
	if a.ad != nil {
		a.ad.Free()
	}
	a.set, a.params, a.ad, a.adName, a.adSteps = nil, nil, nil, "", 0
}

func (a *app) freeModel() {
	a.freeAdapter()
	if a.g != nil {
		a.g.Free()
	}
	if a.m != nil {
		a.m.Close()
	}
	if a.closer != nil {
		a.closer()
	}
	a.m, a.g, a.tok, a.source, a.closer = nil, nil, nil, "", nil
}

type loadOptions struct {
	Name    string            `json:"name"`    // shown for a URL or Blob
	Headers map[string]string `json:"headers"` // sent with URL requests (e.g. Authorization)
}

func (a *app) loadModel(src safejs.Value, raw []byte, emit func(map[string]any)) (any, error) {
	var opt loadOptions
	if err := json.Unmarshal(raw, &opt); err != nil {
		return nil, fmt.Errorf("loadModel options: %w", err)
	}
	d, err := a.device()
	if err != nil {
		return nil, err
	}
	emit(map[string]any{"type": "device", "adapter": d.Info.Name, "cpu": d.Info.IsCPU(), "summary": d.String()})
	a.freeModel()
	if isArray(src) {
		// A Hugging Face folder: config.json, tokenizer files, safetensors.
		fsys, err := newBlobFS(src)
		if err != nil {
			return nil, err
		}
		name := opt.Name
		if name == "" {
			name = "model folder"
		}
		emit(map[string]any{"type": "progress", "phase": "reading", "done": 0, "total": 0})
		m, err := model.OpenHF(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (a Hugging Face model folder holds config.json, tokenizer.json and model.safetensors or its shards; it has %v)", name, err, fsys.names())
		}
		return a.finishLoad(d, m, name, emit)
	}
	var r interface {
		ReadAt([]byte, int64) (int, error)
	}
	var size int64
	name := opt.Name
	if src.Type() == safejs.TypeString {
		url, _ := src.String()
		headers := map[string]any{}
		for k, v := range opt.Headers {
			headers[k] = v
		}
		emit(map[string]any{"type": "progress", "phase": "connecting", "done": 0, "total": 0})
		u, err := newURLReader(url, headers)
		if err != nil {
			return nil, err
		}
		r, size = u, u.size
		if name == "" {
			name = url
		}
	} else {
		b, err := newBlobReader(src)
		if err != nil {
			return nil, err
		}
		r, size = b, b.size
		if name == "" {
			if n, err := src.Get("name"); err == nil && n.Type() == safejs.TypeString {
				name, _ = n.String()
			}
		}
	}
	emit(map[string]any{"type": "progress", "phase": "reading", "done": 0, "total": size})
	m, err := model.OpenGGUF(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (webpeft reads GGUF model files)", name, err)
	}
	return a.finishLoad(d, m, name, emit)
}

// finishLoad checks m's tokenizer and uploads its weights.
func (a *app) finishLoad(d *gpu.Device, m *model.Model, name string, emit func(map[string]any)) (any, error) {
	if m.Vocab == nil {
		m.Close()
		return nil, fmt.Errorf("%s has no tokenizer, so webpeft cannot read or write text with it", name)
	}
	tok, err := tokenizer.New(*m.Vocab)
	if err != nil {
		m.Close()
		return nil, err
	}
	last := time.Time{}
	g, err := model.LoadGPU(d, m, model.LoadOptions{Progress: func(done, total int64) {
		if time.Since(last) > 100*time.Millisecond || done == total {
			last = time.Now()
			emit(map[string]any{"type": "progress", "phase": "uploading", "done": done, "total": total})
		}
	}})
	if err != nil {
		m.Close()
		return nil, err
	}
	a.m, a.g, a.tok, a.source = m, g, tok, name
	if a.cal == nil {
		// Once per device: the speed that training time estimates scale.
		emit(map[string]any{"type": "progress", "phase": "calibrating", "done": 0, "total": 0})
		if c, err := model.Calibrate(d, 300*time.Millisecond); err == nil {
			a.cal = &c
		}
	}
	return a.infoJSON()
}

func (a *app) needModel() error {
	if a.g == nil {
		return errors.New("no model is loaded: load one first")
	}
	return nil
}

// info describes the worker's state for the page.
func (a *app) info() map[string]any {
	out := map[string]any{"model": nil, "device": nil, "adapter": nil, "busy": a.busy}
	if d := a.dev; d != nil {
		out["device"] = map[string]any{"adapter": d.Info.Name, "vendor": d.Info.Vendor, "architecture": d.Info.Architecture,
			"cpu": d.Info.IsCPU(), "summary": d.String(), "features": d.Features, "limits": d.Limits}
	}
	if a.m != nil && a.g != nil {
		s := a.m.Spec
		types := map[string]int{}
		for _, t := range s.Tensors {
			types[t.Type]++
		}
		out["model"] = map[string]any{"name": s.Name, "source": a.source, "architecture": s.Arch, "vocab": s.Vocab,
			"hidden": s.Hidden, "ffn": s.FFN, "layers": s.Layers, "heads": s.Heads, "kvHeads": s.KVHeads, "headDim": s.HeadDim,
			"context": s.Context, "maxPositions": a.g.MaxPositions(), "bytes": a.m.Bytes, "weightBytes": a.g.WeightBytes,
			"types": types, "chatTemplate": a.m.ChatTemplate != "",
			"gpuBytes": a.dev.Stats().LiveBytes}
	}
	if a.set != nil {
		var methods []string
		for _, c := range a.set.Configs {
			methods = append(methods, c.Method)
		}
		out["adapter"] = map[string]any{"name": a.adName, "methods": methods, "parameters": a.countParams(), "steps": a.adSteps,
			"configs": a.set.Configs}
	}
	return out
}

func (a *app) countParams() int {
	n := 0
	for _, t := range a.set.Tensors {
		n += t.Len
	}
	return n
}

func (a *app) infoJSON() (any, error) {
	b, err := json.Marshal(a.info())
	return string(b), err
}

// trainOptions are train's options; zero fields take the CLI's defaults.
type trainOptions struct {
	Data     string   `json:"data"`
	DataName string   `json:"dataName"` // a .jsonl name reads JSON lines
	Method   string   `json:"method"`   // lora, prompt, prefix, ia3, adapter (comma-separated: several)
	Steps    int      `json:"steps"`    // 0: one epoch
	Epochs   int      `json:"epochs"`
	Seq      int      `json:"seq"`
	Batch    int      `json:"batch"`
	Accum    int      `json:"accum"`
	LR       float64  `json:"lr"`
	Schedule string   `json:"schedule"`
	Warmup   int      `json:"warmup"`
	WD       float64  `json:"weightDecay"`
	ClipNorm *float64 `json:"maxGradNorm"`
	ValSplit *float64 `json:"valSplit"`
	// ValData, when given, is the validation set (read like Data, named
	// ValDataName); then all of Data trains and ValSplit is ignored.
	ValData     string `json:"valData"`
	ValDataName string `json:"valDataName"`
	EvalEvery   int    `json:"evalEvery"`
	Seed        uint64 `json:"seed"`
	Recompute   string `json:"recompute"`
	OnBadLine   string `json:"onBadLine"`

	Rank          int      `json:"rank"`
	Alpha         float64  `json:"alpha"`
	Dropout       float64  `json:"dropout"`
	RSLoRA        bool     `json:"rslora"`
	Targets       []string `json:"targets"`
	VirtualTokens int      `json:"virtualTokens"`
	PromptInit    string   `json:"promptInit"`
	InitText      string   `json:"promptInitText"`
	Bottleneck    int      `json:"bottleneck"`
	AdapterType   string   `json:"adapterType"`
	AdapterAct    string   `json:"adapterAct"`
	// Continue trains the current adapter further instead of a new one.
	Continue bool `json:"continue"`
	// CheckpointEvery: steps between checkpoints handed to save (0:
	// steps/10, at least 1).
	CheckpointEvery int `json:"checkpointEvery"`
}

// historyKey names the loss history in a checkpoint's metadata, so that a
// resumed run's chart shows the steps before the checkpoint.
const historyKey = "webpeft.app.history"

// point is one step of the loss history.
type point struct {
	Step    int `json:"step"`
	Loss    any `json:"loss"`
	ValLoss any `json:"valLoss"`
}

func (o *trainOptions) defaults(maxPos int) {
	if o.Method == "" {
		o.Method = peft.LoRA
	}
	if o.Seq <= 0 {
		o.Seq = 128
	}
	o.Seq = min(o.Seq, maxPos)
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Accum <= 0 {
		o.Accum = 1
	}
	if o.Schedule == "" {
		o.Schedule = "cosine"
	}
	if o.ClipNorm == nil {
		one := 1.0
		o.ClipNorm = &one
	}
	if o.ValSplit == nil {
		v := 0.1
		o.ValSplit = &v
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.OnBadLine == "" {
		o.OnBadLine = "error"
	}
}

func (o *trainOptions) configs() []peft.Config {
	var cs []peft.Config
	for _, m := range strings.Split(o.Method, ",") {
		c := peft.Config{Method: strings.TrimSpace(m), Rank: o.Rank, Alpha: o.Alpha, Dropout: o.Dropout, RSLoRA: o.RSLoRA,
			Targets: o.Targets, VirtualTokens: o.VirtualTokens, PromptInit: o.PromptInit, InitText: o.InitText,
			Bottleneck: o.Bottleneck, AdapterType: o.AdapterType, AdapterAct: o.AdapterAct}
		if c.Method == peft.Prompt && c.InitText != "" && (c.PromptInit == "" || c.PromptInit == "random") {
			c.PromptInit = "text"
		}
		if len(c.Targets) == 0 {
			c.Targets = nil
		}
		cs = append(cs, c)
	}
	return cs
}

// examples reads the training data as train.Load does and splits it.
func (a *app) examples(o *trainOptions, warn func(string)) (all, trainSet, val []train.Example, err error) {
	name := o.DataName
	if name == "" {
		name = "data.txt"
	}
	codec := train.Codec{Tok: a.tok, Vocab: a.m.Vocab, ChatTemplate: a.m.ChatTemplate}
	opt := train.DataOptions{Seq: o.Seq, OnBadLine: o.OnBadLine, Warn: warn}
	all, err = train.Load(strings.NewReader(o.Data), name, codec, opt)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.ValData == "" {
		trainSet, val = train.Split(all, *o.ValSplit, o.Seed)
		return all, trainSet, val, nil
	}
	valName := o.ValDataName
	if valName == "" {
		valName = "validation.txt"
	}
	if val, err = train.Load(strings.NewReader(o.ValData), valName, codec, opt); err != nil {
		return nil, nil, nil, fmt.Errorf("validation data: %w", err)
	}
	return all, all, val, nil
}

// dataStats tokenizes the data as train would and counts.
func (a *app) dataStats(raw []byte) (any, error) {
	a.mu.Lock()
	busy := a.busy == "loading a model"
	a.mu.Unlock()
	if busy || a.g == nil {
		return nil, errors.New("no model is loaded: load one first")
	}
	var o trainOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("data options: %w", err)
	}
	o.defaults(a.g.MaxPositions())
	warnings := []string{}
	all, trainSet, val, err := a.examples(&o, func(s string) {
		if len(warnings) < 20 {
			warnings = append(warnings, s)
		}
	})
	if err != nil {
		return nil, err
	}
	count := func(ex []train.Example) (tokens, targets int) {
		for _, e := range ex {
			tokens += len(e.Tokens)
			for i := 1; i < len(e.Loss); i++ {
				if e.Loss[i] {
					targets++
				}
			}
		}
		return
	}
	tok, tgt := count(all)
	trTok, _ := count(trainSet)
	valTok, _ := count(val)
	out := map[string]any{"examples": len(all), "trainExamples": len(trainSet), "valExamples": len(val),
		"tokens": tok, "targetTokens": tgt, "trainTokens": trTok, "valTokens": valTok, "seq": o.Seq,
		"stepsPerEpoch": max(1, len(trainSet)/(o.Batch*o.Accum)), "warnings": warnings}
	if est, err := a.estimate(&o, len(trainSet), len(val)); err != nil {
		out["estimateError"] = err.Error()
	} else {
		out["estimate"] = est
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// Memory the page warns above: four times the largest buffer the device
// grants (WebGPU exposes no total), and never more than 4 GiB, about what
// a browser tab can count on.
const gpuBudgetCap = 4 << 30

func gpuBudget(l gpu.Limits) uint64 { return min(4*l.MaxBufferSize, gpuBudgetCap) }

// estimate is what training with o would cost on this model and device:
// GPU memory (the weights and the training program, model.EstimateTraining)
// and time (FLOPs at model.TrainEfficiency of the matmul rate measured at
// load, plus the steps' dispatches, plus the validation passes).
func (a *app) estimate(o *trainOptions, trainExamples, valExamples int) (map[string]any, error) {
	set := a.set
	if !o.Continue || set == nil {
		var err error
		if set, err = peft.NewSet(model.PEFTDims(a.m.Spec), o.configs()...); err != nil {
			return nil, err
		}
	}
	seq := o.Seq
	if room := a.g.MaxPositions() - set.VirtualTokens() - set.PrefixTokens(); seq > room {
		seq = max(1, room)
	}
	e, err := model.EstimateTraining(a.g, set, model.TrainOptions{B: o.Batch, T: seq, Recompute: o.Recompute})
	if err != nil {
		return nil, err
	}
	steps := o.Steps
	if steps <= 0 {
		steps = max(1, max(o.Epochs, 1)*trainExamples/(o.Batch*o.Accum))
	}
	budget := gpuBudget(a.dev.Limits)
	out := map[string]any{"gpuBytes": e.GPUBytes, "weightBytes": e.WeightBytes, "programBytes": e.ProgramBytes,
		"activationBytes": e.ActivationBytes, "recompute": e.Recompute, "flopsPerStep": e.FlopsPerStep * float64(o.Accum),
		"steps": steps, "parameters": set.Size, "budgetBytes": budget, "overBudget": e.GPUBytes > budget,
		"estimatedSeconds": nil}
	if a.cal != nil {
		sec := e.Seconds(*a.cal, steps, o.Accum)
		// Validation: a forward pass (about a third of a step) per batch of
		// the validation set, every evalEvery steps and at the end.
		if valExamples > 0 {
			every := o.EvalEvery
			if every <= 0 {
				every = max(1, steps/10)
			}
			evals := steps/every + 1
			batches := (valExamples + o.Batch - 1) / o.Batch
			sec += float64(evals*batches) * e.Seconds(*a.cal, 1, 1) / 3
		}
		out["estimatedSeconds"] = sec
		out["calibration"] = a.cal
	}
	return out, nil
}

func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

func (a *app) train(raw []byte, emit func(map[string]any), save, resume safejs.Value) (any, error) {
	if err := a.needModel(); err != nil {
		return nil, err
	}
	ctx := a.ctx()
	var o trainOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("train options: %w", err)
	}
	o.defaults(a.g.MaxPositions())
	// A checkpoint to resume from: parameters, AdamW moments, step, data
	// position, and the loss history so far.
	var st *train.State
	var history []point
	if resume.Type() == safejs.TypeObject {
		b, err := bytesOf(resume)
		if err != nil {
			return nil, fmt.Errorf("the checkpoint: %w", err)
		}
		var extra map[string]string
		if st, extra, err = train.DecodeState(b); err != nil {
			return nil, err
		}
		if h := extra[historyKey]; h != "" {
			if err := json.Unmarshal([]byte(h), &history); err != nil {
				return nil, fmt.Errorf("the checkpoint's loss history: %w", err)
			}
		}
		if len(history) > st.Step {
			history = history[:st.Step]
		}
		if got, want := st.Set.Dims, model.PEFTDims(a.m.Spec); got != want {
			return nil, fmt.Errorf("the checkpoint was trained on another model (dimensions %+v, this model %+v)", got, want)
		}
	}
	var set *peft.Set
	var params []float32
	switch {
	case st != nil:
		set, params = st.Set, st.Params
	case o.Continue && a.set != nil:
		set, params = a.set, append([]float32(nil), a.params...)
	default:
		var err error
		if set, err = peft.NewSet(model.PEFTDims(a.m.Spec), o.configs()...); err != nil {
			return nil, err
		}
		params = set.Init(o.Seed)
		if err := model.InitPromptRows(a.m, set, params, o.Seed); err != nil {
			return nil, err
		}
	}
	// The virtual tokens take positions too.
	if room := a.g.MaxPositions() - set.VirtualTokens() - set.PrefixTokens(); o.Seq > room {
		o.Seq = max(1, room)
	}
	_, examples, val, err := a.examples(&o, func(s string) { emit(map[string]any{"type": "warning", "message": s}) })
	if err != nil {
		return nil, err
	}
	steps := o.Steps
	if steps <= 0 {
		steps = max(1, max(o.Epochs, 1)*len(examples)/(o.Batch*o.Accum))
	}
	lr := o.LR
	if lr <= 0 {
		lr = train.DefaultLR(set.Configs[0].Method)
	}
	evalEvery := o.EvalEvery
	if evalEvery <= 0 {
		evalEvery = max(1, steps/10)
	}
	every := o.CheckpointEvery
	if every <= 0 {
		every = max(1, steps/10)
	}
	from := 0
	if st != nil {
		from = st.Step
	}
	if history == nil {
		history = []point{}
	}
	emit(map[string]any{"type": "start", "steps": steps, "trainExamples": len(examples), "valExamples": len(val),
		"seq": o.Seq, "lr": lr, "method": o.Method, "parameters": set.Size, "resumedFrom": from, "history": history,
		"checkpointEvery": every})
	tr, err := model.NewTrainer(a.g, set, model.TrainOptions{B: o.Batch, T: o.Seq, Recompute: o.Recompute,
		MaxGradNorm: float32(*o.ClipNorm), Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	defer tr.Free()
	if err := tr.SetParams(params); err != nil {
		return nil, err
	}
	if st != nil {
		if err := train.Resume(tr, st); err != nil {
			return nil, err
		}
	}
	data, err := train.NewBatcher(examples, o.Batch, o.Seq, o.Seed)
	if err != nil {
		return nil, err
	}
	saved := from
	checkpoint := func(step int) {
		if save.Type() != safejs.TypeFunction || step == saved {
			return
		}
		err := a.checkpoint(tr, data, set, o.Seed, step, history, save)
		if err != nil {
			emit(map[string]any{"type": "warning", "message": fmt.Sprintf("saving the checkpoint of step %d failed: %v", step, err)})
			return
		}
		saved = step
		emit(map[string]any{"type": "checkpoint", "step": step})
	}
	opt := train.Options{Steps: steps, Accum: o.Accum, WeightDecay: o.WD, Seed: o.Seed, EvalEvery: evalEvery,
		Schedule: train.Schedule{Kind: o.Schedule, LR: lr, Warmup: o.Warmup, Steps: steps}}
	sum, err := train.Run(ctx, tr, data, val, opt, st, nil, func(p train.Progress) {
		eta := p.Elapsed.Seconds() / float64(p.Step-from) * float64(p.Steps-p.Step)
		history = append(history, point{Step: p.Step, Loss: finite(p.Loss), ValLoss: finite(p.ValLoss)})
		emit(map[string]any{"type": "step", "step": p.Step, "steps": p.Steps, "loss": finite(p.Loss), "valLoss": finite(p.ValLoss),
			"lr": p.LR, "tokensPerSecond": finite(p.TokensPerS), "elapsed": p.Elapsed.Seconds(), "eta": eta})
		if p.Step < p.Steps && (p.Step%every == 0 || a.isPaused()) {
			checkpoint(p.Step)
		}
		a.waitIfPaused(ctx, p.Step, emit)
	})
	stopped := errors.Is(err, context.Canceled)
	if err != nil && !stopped {
		return nil, err
	}
	// Keep what was trained, even when stopped early.
	trained, perr := tr.Params()
	if perr != nil {
		return nil, perr
	}
	if err := a.setAdapter(set, trained, o.Method); err != nil {
		return nil, err
	}
	a.adSteps = sum.Steps
	b, err := json.Marshal(map[string]any{"steps": sum.Steps, "loss": finite(sum.Loss), "valLoss": finite(sum.ValLoss),
		"tokensPerSecond": finite(sum.TokensPerS), "stopped": stopped, "resumedFrom": from})
	return string(b), err
}

// checkpoint reads the trainer's state after step and hands it, encoded
// with the loss history, to save(bytes, step), waiting for its promise.
func (a *app) checkpoint(tr *model.Trainer, data *train.Batcher, set *peft.Set, seed uint64, step int, history []point, save safejs.Value) error {
	p, m, v, t, err := tr.State()
	if err != nil {
		return err
	}
	h, err := json.Marshal(history)
	if err != nil {
		return err
	}
	b, err := train.EncodeState(&train.State{Step: step, Epoch: data.Epoch, Next: data.Next, AdamT: t, Seed: seed, Set: set,
		Params: p, M: m, V: v}, map[string]string{historyKey: string(h)})
	if err != nil {
		return err
	}
	u8, err := newBytes(b)
	if err != nil {
		return err
	}
	pr, err := save.Invoke(u8, step)
	if err != nil {
		return err
	}
	if pr.Type() == safejs.TypeObject {
		_, err = await(pr)
	}
	return err
}

func (a *app) isPaused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.paused
}

// setAdapter makes (set, params) the current adapter and uploads it for
// generation.
func (a *app) setAdapter(set *peft.Set, params []float32, name string) error {
	ad, err := a.g.NewAdapter(set, params)
	if err != nil {
		return err
	}
	a.freeAdapter()
	a.set, a.params, a.ad, a.adName = set, params, ad, name
	return nil
}

type generateOptions struct {
	Prompt            string   `json:"prompt"`
	MaxTokens         int      `json:"maxTokens"`
	Temperature       float64  `json:"temperature"`
	TopK              int      `json:"topK"`
	TopP              float64  `json:"topP"`
	RepetitionPenalty float64  `json:"repetitionPenalty"`
	Seed              uint64   `json:"seed"`
	Adapter           bool     `json:"adapter"`
	Stop              []string `json:"stop"`
}

func (a *app) generate(raw []byte, emit func(map[string]any)) (any, error) {
	if err := a.needModel(); err != nil {
		return nil, err
	}
	ctx := a.ctx()
	var o generateOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("generate options: %w", err)
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 64
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	var ad *model.Adapter
	if o.Adapter {
		if a.ad == nil {
			return nil, errors.New("there is no adapter yet: train one or load one")
		}
		ad = a.ad
	}
	if o.Prompt == "" {
		return nil, errors.New("the prompt is empty")
	}
	reserved := 0
	if ad != nil {
		reserved = ad.Set.VirtualTokens() + ad.Set.PrefixTokens()
	}
	maxPos := a.g.MaxPositions()
	if o.MaxTokens >= maxPos-reserved {
		o.MaxTokens = max(1, maxPos-reserved-1)
	}
	n := len(a.tok.Encode(o.Prompt, tokenizer.EncodeOptions{AddBOS: a.m.Vocab.AddBOS}))
	S := min(maxPos, reserved+n+o.MaxTokens)
	gen, err := a.g.NewAdapterGenerator(S, ad)
	if err != nil {
		return nil, err
	}
	defer gen.Free()
	tokens := 0
	start := time.Now()
	text, err := gen.Text(a.tok, a.m.Vocab, o.Prompt, model.GenerateOptions{
		SampleOptions: model.SampleOptions{Temperature: o.Temperature, TopK: o.TopK, TopP: o.TopP,
			RepetitionPenalty: o.RepetitionPenalty, Seed: o.Seed},
		MaxTokens: o.MaxTokens, Stop: o.Stop, Truncate: true,
	}, func(piece string) error {
		tokens++
		emit(map[string]any{"type": "token", "text": piece, "tokensPerSecond": float64(tokens) / time.Since(start).Seconds()})
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	return text, nil
}

type evaluateOptions struct {
	Data     string `json:"data"`
	DataName string `json:"dataName"` // a .jsonl name joins its records' texts
	Adapter  bool   `json:"adapter"`  // with the current adapter
	Window   int    `json:"window"`   // tokens per forward pass (0: 512, at most the model's positions)
}

// evaluate is webpeft eval in the browser: the mean token loss of a text
// (model.AdapterEval), with or without the current adapter.
func (a *app) evaluate(raw []byte, emit func(map[string]any)) (any, error) {
	if err := a.needModel(); err != nil {
		return nil, err
	}
	var o evaluateOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("evaluate options: %w", err)
	}
	text, err := train.EvalText([]byte(o.Data), o.DataName)
	if err != nil {
		return nil, err
	}
	var ad *model.Adapter
	if o.Adapter {
		if a.ad == nil {
			return nil, errors.New("there is no adapter yet: train one or load one")
		}
		ad = a.ad
	}
	if o.Window <= 0 {
		o.Window = 512
	}
	o.Window = min(o.Window, a.g.MaxPositions()-1)
	ids := a.tok.Encode(text, tokenizer.EncodeOptions{AddBOS: a.m.Vocab.AddBOS})
	ctx := a.ctx()
	res, err := a.g.AdapterEval(ids, o.Window, ad, func(done, total int) {
		emit(map[string]any{"type": "progress", "done": done, "total": total})
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	return string(b), err
}

// exportAdapter returns the current adapter's files: "native"
// (webpeft's own folder), "peft" (Hugging Face PEFT) or "gguf"
// (llama.cpp LoRA).
func (a *app) exportAdapter(format string) (any, error) {
	if a.set == nil {
		return nil, errors.New("there is no adapter to export: train one first")
	}
	info := model.PEFTInfo(a.m.Spec)
	var files []namedFile
	switch format {
	case "native":
		var cfg, ts bytes.Buffer
		if err := peft.WriteNative(&cfg, &ts, a.set, a.params, info); err != nil {
			return nil, err
		}
		files = []namedFile{{peft.ConfigFile, cfg.Bytes()}, {peft.TensorsFile, ts.Bytes()}}
	case "peft":
		cfg, ts, err := peft.ExportPEFT(a.set, a.params, info)
		if err != nil {
			return nil, err
		}
		files = []namedFile{{peft.ConfigFile, cfg}, {peft.TensorsFile, ts}}
	case "gguf":
		var buf bytes.Buffer
		if err := peft.ExportGGUF(&buf, a.set, a.params, info); err != nil {
			return nil, err
		}
		files = []namedFile{{"adapter.gguf", buf.Bytes()}}
	default:
		return nil, fmt.Errorf("adapter format %q: want native, peft or gguf", format)
	}
	var out []any
	for _, f := range files {
		u8, err := newBytes(f.data)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"name": f.name, "data": u8})
	}
	return out, nil
}

// loadAdapter reads adapter files: a GGUF LoRA, or adapter_config.json
// with adapter_model.safetensors (webpeft's native format or Hugging
// Face PEFT's).
func (a *app) loadAdapter(files []namedFile) (any, error) {
	if err := a.needModel(); err != nil {
		return nil, err
	}
	dims, base := model.PEFTDims(a.m.Spec), model.PEFTInfo(a.m.Spec)
	var cfg, ts []byte
	var set *peft.Set
	var params []float32
	var err error
	name := "adapter"
	for _, f := range files {
		switch {
		case strings.HasSuffix(f.name, ".gguf") || bytes.HasPrefix(f.data, []byte("GGUF")):
			set, params, err = peft.ImportGGUF(bytes.NewReader(f.data), int64(len(f.data)), dims, base)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			name = f.name
		case strings.HasSuffix(f.name, ".json"):
			cfg = f.data
		case strings.HasSuffix(f.name, ".safetensors"):
			ts = f.data
		}
	}
	if set == nil {
		if cfg == nil || ts == nil {
			names := []string{}
			for _, f := range files {
				names = append(names, f.name)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("an adapter is a .gguf LoRA file, or %s with %s; got %v", peft.ConfigFile, peft.TensorsFile, names)
		}
		if peft.IsNative(cfg) {
			var info *peft.ModelInfo
			set, params, info, err = peft.ReadNative(cfg, ts, &dims)
			if err == nil && info != nil {
				if err = info.Fits(base); err == nil && info.PermutedQK != base.PermutedQK {
					params, err = set.Reorder(params, base.Heads, base.KVHeads, base.PermutedQK)
				}
			}
		} else {
			set, params, err = peft.ImportPEFT(cfg, ts, dims, base)
		}
		if err != nil {
			return nil, err
		}
		var methods []string
		for _, c := range set.Configs {
			methods = append(methods, c.Method)
		}
		name = strings.Join(methods, ",")
	}
	if err := a.setAdapter(set, params, name); err != nil {
		return nil, err
	}
	return a.infoJSON()
}
