//go:build js && wasm

// Command wasm is webpeft's engine compiled to WebAssembly. It runs inside a
// Web Worker (site/worker.js), never on the page's main thread, and exposes
// globalThis.webpeft to that worker:
//
//	webpeft.runTests(onEvent, filter) -> Promise  every ops.Cases() parity check,
//	                                              then the whole-model
//	                                              model.Cases(); with a regexp
//	                                              filter ("" = all), only the
//	                                              cases whose name matches
//	webpeft.runBenches(onEvent, filter) -> Promise  the standard set (engine/bench;
//	                                              filter "", "suite" or "suite-quick"),
//	                                              or the ops.Benches() and model
//	                                              benchmarks whose name matches filter
//
// and the web app's engine (app_js.go, used by site/worker.js and
// site/webpeft.js): loadModel, dataStats, train, generate, exportAdapter,
// loadAdapter, info, pause, resume, stop. Their options, results and
// events are JSON strings; adapter files are Uint8Arrays.
//
// The test and benchmark runners' onEvent receives plain objects: {type:"device", ...}, {type:"start", name}
// (a case begins: a stalled run names the case it stalled in), {type:"case",
// name, ok, error, ms, note}, {type:"bench", name, gflops},
// {type:"forward", name, prefill, prefill_gflops, decode, decode_gflops},
// {type:"suite", json} (the standard set's Result), {type:"done", ...}.
// Every handler starts a goroutine and returns a Promise: GPU calls wait on
// promises and must never block the event loop.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hack-pad/safejs"

	"webpeft/engine/bench"
	"webpeft/engine/gpu"
	"webpeft/engine/model"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
	"webpeft/engine/train"
)

func main() {
	api, err := safejs.Global().Get("Object")
	if err == nil {
		api, err = api.New()
	}
	if err != nil {
		fmt.Println("webpeft: cannot create the JS API:", err)
		return
	}
	for name, run := range map[string]func(emit func(map[string]any), filter string) error{
		"runTests":   runTests,
		"runBenches": runBenches,
	} {
		f, err := safejs.FuncOf(handler(run))
		if err != nil {
			fmt.Println("webpeft:", err)
			return
		}
		api.Set(name, f.Value())
	}
	for name, fn := range engine.jsAPI() {
		f, err := safejs.FuncOf(fn)
		if err != nil {
			fmt.Println("webpeft:", err)
			return
		}
		api.Set(name, f.Value())
	}
	safejs.Global().Set("webpeft", api)
	select {} // keep the Go runtime alive for later calls
}

// handler turns run into a JS function (onEvent, filter) -> Promise.
func handler(run func(emit func(map[string]any), filter string) error) func(safejs.Value, []safejs.Value) any {
	return func(_ safejs.Value, args []safejs.Value) any {
		var onEvent safejs.Value
		if len(args) > 0 {
			onEvent = args[0]
		}
		filter := ""
		if len(args) > 1 && args[1].Type() == safejs.TypeString {
			filter, _ = args[1].String()
		}
		emit := func(ev map[string]any) {
			if onEvent.Type() == safejs.TypeFunction {
				onEvent.Invoke(ev)
			}
		}
		return promise(func() error { return run(emit, filter) })
	}
}

// promise runs f on a new goroutine and returns a JS Promise of its result.
func promise(f func() error) any {
	ctor, _ := safejs.Global().Get("Promise")
	executor, _ := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			if err := f(); err != nil {
				reject.Invoke(err.Error())
				return
			}
			resolve.Invoke()
		}()
		return nil
	})
	p, err := ctor.New(executor.Value())
	if err != nil {
		return err.Error()
	}
	return safejs.Unsafe(p)
}

// openDevice opens the GPU and reports it; a missing adapter becomes a
// sentence a user can act on.
func openDevice(emit func(map[string]any)) (*gpu.Device, error) {
	d, err := gpu.Open()
	if errors.Is(err, gpu.ErrNoAdapter) {
		return nil, fmt.Errorf("No WebGPU adapter is available in this browser, so webpeft cannot use your GPU. "+
			"Try a recent Chrome or Edge (WebGPU on by default), or enable WebGPU in your browser's settings. Details: %v", err)
	}
	if err != nil {
		return nil, err
	}
	emit(map[string]any{
		"type":     "device",
		"adapter":  d.Info.Name,
		"vendor":   d.Info.Vendor,
		"arch":     d.Info.Architecture,
		"cpu":      d.Info.IsCPU(),
		"summary":  d.String(),
		"features": fmt.Sprint(d.Features),
	})
	return d, nil
}

func runTests(emit func(map[string]any), filter string) error {
	match, err := regexp.Compile(filter)
	if err != nil {
		return fmt.Errorf("case filter %q: %w", filter, err)
	}
	d, err := openDevice(emit)
	if err != nil {
		return err
	}
	defer d.Close()
	passed, failed := 0, 0
	notes := map[string]string{}
	cases := append(ops.Cases(), model.Cases(func(name, fig string) { notes[name] = fig }, true)...)
	for _, c := range cases {
		if !match.MatchString(c.Name) {
			continue
		}
		emit(map[string]any{"type": "start", "name": c.Name})
		start := time.Now()
		err := c.Run(d)
		ev := map[string]any{"type": "case", "name": c.Name, "ok": err == nil, "ms": time.Since(start).Milliseconds(),
			"note": notes[c.Name]}
		if err != nil {
			ev["error"] = err.Error()
			failed++
		} else {
			passed++
		}
		emit(ev)
	}
	for _, method := range peft.Methods {
		name := "curve/" + method
		if !match.MatchString(name) {
			continue
		}
		emit(map[string]any{"type": "start", "name": name})
		ev := curveEvent(d, name, method, emit)
		if ev["ok"] == true {
			passed++
		} else {
			failed++
		}
		emit(ev)
	}
	emit(map[string]any{"type": "done", "passed": passed, "failed": failed, "adapter": d.Info.Name})
	return nil
}

// curveEvent trains method for train.CurveSteps steps on train.CurveModel
// and reports the losses as JSON in the event's note, for the browser test
// to compare with the same run natively.
func curveEvent(d *gpu.Device, name, method string, emit func(map[string]any)) map[string]any {
	start := time.Now()
	ev := map[string]any{"type": "case", "name": name, "ok": false}
	m, err := train.CurveModel()
	var losses []float64
	if err == nil {
		losses, err = train.CurveProgress(d, m, method, train.CurveSteps, func(step int, loss float64) {
			emit(map[string]any{"type": "progress", "name": name, "step": step, "loss": loss})
		})
	}
	ev["ms"] = time.Since(start).Milliseconds()
	if err != nil {
		ev["error"] = err.Error()
		return ev
	}
	note, _ := json.Marshal(losses)
	ev["ok"], ev["note"] = true, string(note)
	return ev
}

// runBenches runs the standard set (engine/bench) when filter is "",
// "suite" or "suite-quick" (tiny shapes and model): a "bench" event per
// kernel figure, "forward" and "train" events, then {type:"suite", json}
// with the whole Result as a JSON string, the same object `webpeft bench
// --json` prints. Any other filter is a regexp over the individual
// ops.Benches() names ("forward/Q8_0", "train/Q8_0-lora-r8-qv", ...).
func runBenches(emit func(map[string]any), filter string) error {
	if filter == "" || filter == "suite" || filter == "suite-quick" {
		return runSuite(emit, filter == "suite-quick")
	}
	match, err := regexp.Compile(filter)
	if err != nil {
		return fmt.Errorf("benchmark filter %q: %w", filter, err)
	}
	d, err := openDevice(emit)
	if err != nil {
		return err
	}
	defer d.Close()
	for _, b := range ops.Benches() {
		// fma_peak always runs: the other figures are read as its fractions.
		if b.Name != "fma_peak" && !match.MatchString(b.Name) {
			continue
		}
		gflops, err := ops.Measure(d, b, time.Second)
		ev := map[string]any{"type": "bench", "name": b.Name, "gflops": gflops}
		if err != nil {
			ev["error"] = err.Error()
		}
		emit(ev)
	}
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0} {
		if match.MatchString("forward/" + typ.String()) {
			emit(forwardEvent(model.BenchForward(d, model.SmolLM2Shape(typ), 256, 8)))
		}
	}
	// Training: sequence 128, batch 1, two timed steps (a step of 256 x 4
	// takes minutes on a software adapter).
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0} {
		for _, set := range model.TrainBenchSets() {
			name := fmt.Sprintf("train/%v-%s", typ, set.Name)
			if !match.MatchString(name) {
				continue
			}
			emit(map[string]any{"type": "start", "name": name})
			r, err := model.BenchTrain(d, model.SmolLM2Shape(typ), set.Make, 1, 128, 2)
			ev := map[string]any{"type": "train", "name": name,
				"train_tokens_per_s": r.TokensPerS, "train_gflops": r.GFLOPS, "peak_gpu_bytes": r.PeakBytes, "ops_per_step": r.Ops}
			if err != nil {
				ev["error"] = err.Error()
			}
			emit(ev)
		}
	}
	emit(map[string]any{"type": "done", "adapter": d.Info.Name})
	return nil
}

func runSuite(emit func(map[string]any), quick bool) error {
	d, err := openDevice(emit)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := bench.Run(d, bench.Options{
		Quick:   quick,
		OnStart: func(name string) { emit(map[string]any{"type": "start", "name": name}) },
		OnBench: func(name string, gflops float64) {
			emit(map[string]any{"type": "bench", "name": name, "gflops": gflops})
		},
	})
	if err != nil {
		return err
	}
	emit(map[string]any{"type": "forward", "name": "forward/" + r.Model, "prefill": r.PrefillTokS, "decode": r.DecodeTokS})
	emit(map[string]any{"type": "train", "name": fmt.Sprintf("train/%s %dx%d", r.Train, r.TrainBatch, r.TrainSeq),
		"train_tokens_per_s": r.TrainTokS, "peak_gpu_bytes": r.PeakGPUBytes, "ops_per_step": r.OpsPerStep,
		"train_gflops": 0.0})
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	emit(map[string]any{"type": "suite", "json": string(js)})
	emit(map[string]any{"type": "done", "adapter": d.Info.Name})
	return nil
}

// forwardEvent reports a forward-pass benchmark: tokens/s of prefill (256
// tokens) and decode on a SmolLM2-135M-shaped random model.
func forwardEvent(r model.ForwardBench, err error) map[string]any {
	ev := map[string]any{"type": "forward", "name": "forward/" + r.Model,
		"prefill": r.PrefillTokS, "prefill_gflops": r.PrefillGFLOPS,
		"decode": r.DecodeTokS, "decode_gflops": r.DecodeGFLOPS, "peak_bytes": r.PeakBytes}
	if err != nil {
		ev["error"] = err.Error()
	}
	return ev
}
