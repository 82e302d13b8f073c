//go:build !js

package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// appState mirrors window.webpeftApp (site/app.js).
type appState struct {
	Ready       bool   `json:"ready"`
	Busy        string `json:"busy"`
	Error       string `json:"error"`
	Unsupported string `json:"unsupported"`
	Model       *struct {
		Name string `json:"name"`
	} `json:"model"`
	Adapter *struct {
		Methods    []string `json:"methods"`
		Parameters int      `json:"parameters"`
	} `json:"adapter"`
	Stats *struct {
		Tokens        int `json:"tokens"`
		TrainExamples int `json:"trainExamples"`
		ValExamples   int `json:"valExamples"`
	} `json:"stats"`
	Estimate     *trainEstimate `json:"estimate"`
	Training     *stepEvent     `json:"training"`
	Paused       bool           `json:"paused"`
	PausedAt     int            `json:"pausedAt"`
	Losses       []stepEvent    `json:"losses"`
	ChartUpdates int            `json:"chartUpdates"`
	Summary      *trainSummary  `json:"summary"`
	Samples      struct {
		Base    string `json:"base"`
		Adapted string `json:"adapted"`
	} `json:"samples"`
	Downloads    []string `json:"downloads"`
	OfflineReady bool     `json:"offlineReady"`
}

const readApp = `JSON.stringify(window.webpeftApp || {})`

// trainEstimate is dataStats' estimate of a training run's cost.
type trainEstimate struct {
	GPUBytes         uint64   `json:"gpuBytes"`
	WeightBytes      uint64   `json:"weightBytes"`
	ProgramBytes     uint64   `json:"programBytes"`
	FlopsPerStep     float64  `json:"flopsPerStep"`
	Steps            int      `json:"steps"`
	EstimatedSeconds *float64 `json:"estimatedSeconds"`
	BudgetBytes      uint64   `json:"budgetBytes"`
	OverBudget       bool     `json:"overBudget"`
}

// checkEstimate checks the memory and time estimate shown next to the
// Train button before training (plausible for the stand-in and the test's
// settings, the text agreeing with the figures), and that it follows the
// settings: a larger batch needs more memory and time. It returns the
// estimate of the test's settings.
func checkEstimate(t *testing.T, ctx context.Context, steps int) trainEstimate {
	t.Helper()
	st := waitApp(t, ctx, "the training estimate", time.Minute, func(s appState) bool { return s.Estimate != nil && s.Estimate.Steps == steps })
	e := *st.Estimate
	var text string
	if err := evalJSON(ctx, `JSON.stringify(document.getElementById("train-estimate").textContent)`, &text); err != nil {
		t.Fatal(err)
	}
	t.Logf("estimate before training: %q (%+v, %.3f GFLOP per step)", text, e, e.FlopsPerStep/1e9)
	m := regexp.MustCompile(`≈ ([0-9.]+) MiB of GPU memory, ≈ ([0-9]+) (s|min|h)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the estimate next to Train reads %q, not \"≈ X MiB of GPU memory, ≈ Y min\"", text)
	}
	if shown, _ := strconv.ParseFloat(m[1], 64); math.Abs(shown-float64(e.GPUBytes)/(1<<20)) > 0.06 {
		t.Errorf("the page shows %s MiB for an estimate of %d bytes", m[1], e.GPUBytes)
	}
	// The default model: about 3.6 MiB of weights, a program of a few MiB.
	if e.WeightBytes == 0 || e.ProgramBytes < 64<<10 || e.GPUBytes != e.WeightBytes+e.ProgramBytes || e.GPUBytes > 256<<20 || e.OverBudget {
		t.Errorf("implausible memory estimate for the default model: %+v", e)
	}
	if e.FlopsPerStep < 1e6 || e.FlopsPerStep > 1e11 || e.EstimatedSeconds == nil || *e.EstimatedSeconds <= 0 || *e.EstimatedSeconds > 3600 {
		t.Errorf("implausible work or time estimate for %d steps of the default model: %+v", steps, e)
	}
	setField(t, ctx, "batch", 2)
	more := waitApp(t, ctx, "the estimate of batch 2", time.Minute, func(s appState) bool {
		return s.Estimate != nil && s.Estimate.GPUBytes != e.GPUBytes
	}).Estimate
	if more.ProgramBytes <= e.ProgramBytes || more.FlopsPerStep <= e.FlopsPerStep {
		t.Errorf("batch 2's estimate %+v is not above batch 1's %+v", *more, e)
	}
	setField(t, ctx, "batch", 1)
	waitApp(t, ctx, "the estimate of batch 1 again", time.Minute, func(s appState) bool {
		return s.Estimate != nil && s.Estimate.GPUBytes == e.GPUBytes && s.Estimate.Steps == steps
	})
	return e
}

// waitApp polls the app's state until done, failing on an error the page
// shows.
func waitApp(t *testing.T, ctx context.Context, what string, budget time.Duration, done func(appState) bool) appState {
	t.Helper()
	return waitFor(t, ctx, what, readApp, budget, func(s appState) bool {
		if s.Error != "" {
			t.Fatalf("%s: the page shows the error %q", what, s.Error)
		}
		if s.Unsupported != "" {
			t.Fatalf("%s: the page says WebGPU is unsupported: %q", what, s.Unsupported)
		}
		return done(s)
	})
}

// js runs a script in the page.
func js(t *testing.T, ctx context.Context, script string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](script)); err != nil {
		t.Fatalf("%s: %v", script[:min(len(script), 80)], err)
	}
}

// setField sets an input's value as typing or pasting would (firing
// input and change).
func setField(t *testing.T, ctx context.Context, id string, value any) {
	t.Helper()
	v, _ := json.Marshal(value)
	js(t, ctx, fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %s;
		el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, id, v))
}

func click(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS("#"+id))); err != nil {
		t.Fatalf("clicking #%s: %v", id, err)
	}
}

// startApp opens the app, loads the default model and pastes the test
// data with the test's training settings.
func startApp(t *testing.T, ctx context.Context, base string, steps int) appState {
	t.Helper()
	openApp(t, ctx, base)
	return prepareApp(t, ctx, steps)
}

// openApp opens the app page.
func openApp(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1100, 900)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(base+"/index.html")); err != nil {
		t.Fatal(err)
	}
}

// prepareApp waits for the engine, loads the default model and enters
// the data and settings.
func prepareApp(t *testing.T, ctx context.Context, steps int) appState {
	t.Helper()
	waitApp(t, ctx, "the engine to start", 2*time.Minute, func(s appState) bool { return s.Ready && s.Busy == "" })
	click(t, ctx, "load-model")
	st := waitApp(t, ctx, "the default model to load", 2*time.Minute, func(s appState) bool { return s.Model != nil && s.Busy == "" })
	if st.Model.Name != defaultModelName {
		t.Errorf("the default model is %q, not %s", st.Model.Name, defaultModelName)
	}
	setField(t, ctx, "data-text", appData)
	setField(t, ctx, "steps", steps)
	setField(t, ctx, "seq", appSeq)
	setField(t, ctx, "lr", appLR)
	setField(t, ctx, "schedule", "constant")
	targets, _ := json.Marshal(appTargets)
	js(t, ctx, fmt.Sprintf(`(() => { const want = %s; for (const c of document.querySelectorAll('input[name="target"]')) c.checked = want.includes(c.value); return true; })()`, targets))
	for i := 0; i < 60; i++ {
		var st appState
		if err := evalJSON(ctx, readApp, &st); err == nil && st.Stats != nil && st.Busy == "" {
			return st
		}
		time.Sleep(time.Second)
	}
	var text string
	evalJSON(ctx, `JSON.stringify(document.getElementById("data-stats").textContent)`, &text)
	t.Fatalf("the data's token count did not come; the page says %q", text)
	return appState{}
}

// screenshot saves the element sel as site/screenshots/NAME.png.
func screenshot(t *testing.T, ctx context.Context, name, sel string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "site", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// download clicks a download button and returns the files it saved.
func download(t *testing.T, ctx context.Context, button string, want ...string) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	_, err := chromedp.Run(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	click(t, ctx, button)
	deadline := time.Now().Add(time.Minute)
	for {
		out := map[string][]byte{}
		for _, name := range want {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) > 0 {
				out[name] = b
			}
		}
		entries, _ := os.ReadDir(dir)
		partial := false
		for _, e := range entries {
			partial = partial || strings.HasSuffix(e.Name(), ".crdownload")
		}
		if len(out) == len(want) && !partial {
			return out
		}
		if time.Now().After(deadline) {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("#%s: the downloads %v did not arrive (the folder holds %v)", button, want, names)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserApp goes through the app as a user would: load the default
// model, paste data, train LoRA for 20 steps (the loss falls, the chart
// follows), generate base and adapted samples, download the adapter in
// every format and check the files.
func TestBrowserApp(t *testing.T) {
	const budget = 10 * time.Minute
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	start := time.Now()
	st := startApp(t, ctx, base, appSteps)
	t.Logf("model loaded and data counted in %v: %+v", time.Since(start).Round(time.Second), *st.Stats)
	est := checkEstimate(t, ctx, appSteps)
	screenshot(t, ctx, "1-model", "#model-section")
	screenshot(t, ctx, "2-data", "#data-section")
	trainStart := time.Now()
	click(t, ctx, "train")
	mid := waitApp(t, ctx, "training to reach step 10", 5*time.Minute, func(s appState) bool { return s.Training != nil && s.Training.Step >= 10 })
	screenshot(t, ctx, "3-training", "#train-section")
	st = waitApp(t, ctx, "training to end", 5*time.Minute, func(s appState) bool { return s.Summary != nil && s.Busy == "" })
	t.Logf("trained in %v: %+v", time.Since(start).Round(time.Second), *st.Summary)
	t.Logf("training took %.1f s; estimated before: %.1f s", time.Since(trainStart).Seconds(), *est.EstimatedSeconds)
	checkSteps(t, st.Losses, *st.Summary)
	if mid.ChartUpdates < 10 || st.ChartUpdates < appSteps {
		t.Errorf("the chart was updated %d times by step 10 and %d times in all", mid.ChartUpdates, st.ChartUpdates)
	}
	var points int
	if err := evalJSON(ctx, `JSON.stringify(document.querySelectorAll("#chart canvas").length)`, &points); err != nil || points == 0 {
		t.Errorf("the loss chart has no canvas (%v)", err)
	}
	setField(t, ctx, "prompt", "The quick brown")
	setField(t, ctx, "max-tokens", 12)
	click(t, ctx, "generate")
	st = waitApp(t, ctx, "the samples", 3*time.Minute, func(s appState) bool { return s.Samples.Adapted != "" && s.Busy == "" })
	t.Logf("samples: base %q, adapted %q", st.Samples.Base, st.Samples.Adapted)
	if st.Samples.Base == "" {
		t.Error("no base sample")
	}
	screenshot(t, ctx, "4-samples", "#samples-section")
	screenshot(t, ctx, "5-adapter", "#adapter-section")
	files := map[string][]byte{}
	for format, names := range map[string][]string{
		"native": {"adapter_config.json", "adapter_model.safetensors"},
		"peft":   {"adapter_config.json", "adapter_model.safetensors"},
		"gguf":   {"adapter.gguf"},
	} {
		for name, b := range download(t, ctx, "download-"+format, names...) {
			files[format+"/"+name] = b
		}
	}
	checkAdapterFiles(t, files, st.Summary.ValLoss)
	t.Logf("the app test took %v", time.Since(start).Round(time.Second))
}

// TestBrowserAppPause clicks pause mid-training: the worker stops within
// one step and stays paused; resume continues; stop ends the run early
// and keeps the adapter trained so far.
func TestBrowserAppPause(t *testing.T) {
	const budget = 8 * time.Minute
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	const steps = 200
	startApp(t, ctx, base, steps)
	click(t, ctx, "train")
	waitApp(t, ctx, "training to reach step 3", 4*time.Minute, func(s appState) bool { return s.Training != nil && s.Training.Step >= 3 })
	// Read the step and click in one go, so that no step lands between.
	var clickedAt int
	if err := evalJSON(ctx, `(() => { const s = window.webpeftApp.training.step; document.getElementById("pause").click(); return JSON.stringify(s); })()`, &clickedAt); err != nil {
		t.Fatal(err)
	}
	st := waitApp(t, ctx, "the pause", time.Minute, func(s appState) bool { return s.Paused })
	if st.PausedAt > clickedAt+1 || st.Training.Step != st.PausedAt {
		t.Fatalf("pause clicked at step %d; the worker paused after step %d (the page shows step %d): more than one step later", clickedAt, st.PausedAt, st.Training.Step)
	}
	time.Sleep(5 * time.Second)
	var still appState
	if err := evalJSON(ctx, readApp, &still); err != nil {
		t.Fatal(err)
	}
	if !still.Paused || still.Training.Step != st.PausedAt {
		t.Fatalf("while paused the training went on: step %d -> %d (paused %v)", st.PausedAt, still.Training.Step, still.Paused)
	}
	t.Logf("pause clicked at step %d, paused after step %d, still there 5 s later", clickedAt, st.PausedAt)
	click(t, ctx, "pause") // now "Resume"
	waitApp(t, ctx, "training to resume", 3*time.Minute, func(s appState) bool { return !s.Paused && s.Training.Step >= st.PausedAt+2 })
	click(t, ctx, "stop")
	end := waitApp(t, ctx, "the stop", 3*time.Minute, func(s appState) bool { return s.Summary != nil && s.Busy == "" })
	if !end.Summary.Stopped || end.Summary.Steps >= steps || end.Summary.Steps != end.Training.Step {
		t.Fatalf("after stop: summary %+v, last step %d", *end.Summary, end.Training.Step)
	}
	if end.Adapter == nil || end.Adapter.Parameters == 0 {
		t.Fatalf("stopping lost the adapter trained so far")
	}
	t.Logf("resumed, then stopped after step %d of %d", end.Summary.Steps, steps)
}

// TestBrowserAppStaysLocal records every request while the app loads
// the model, trains and generates, and checks that none leaves the site's
// origin. Two records: the browser's proxy (the test server: every HTTP
// request of the browser reaches it; web content's carry Sec-Fetch
// headers, Chromium's own background services' do not) and DevTools'
// network events of the page and of the engine's worker (which also name
// https requests, which reach the proxy only as CONNECT tunnels).
func TestBrowserAppStaysLocal(t *testing.T) {
	const budget = 6 * time.Minute
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	since := time.Now()
	var mu sync.Mutex
	var seen []string // URLs of the page's and the worker's requests (DevTools)
	record := func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			seen = append(seen, e.Request.URL)
			mu.Unlock()
		}
	}
	workers := make(chan target.ID, 4)
	if err := chromedp.Listen(ctx, func(ev any) {
		record(ev)
		if e, ok := ev.(*target.EventAttachedToTarget); ok && e.TargetInfo.Type == "worker" {
			select {
			case workers <- e.TargetInfo.TargetID:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	openApp(t, ctx, base)
	select {
	case id := <-workers:
		wctx, wcancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		defer wcancel()
		if err := chromedp.Listen(wctx, record); err != nil {
			t.Fatalf("attaching to the engine's worker: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the page started no worker")
	}
	prepareApp(t, ctx, 4)
	click(t, ctx, "train")
	waitApp(t, ctx, "training", 4*time.Minute, func(s appState) bool { return s.Summary != nil && s.Busy == "" })
	click(t, ctx, "generate")
	waitApp(t, ctx, "the samples", 2*time.Minute, func(s appState) bool { return s.Samples.Adapted != "" && s.Busy == "" })
	origin, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	local := func(raw string) bool {
		u, err := url.Parse(raw)
		return err == nil && (u.Host == origin.Host || u.Scheme == "blob" || u.Scheme == "data")
	}
	paths := map[string]bool{}
	content, own := 0, map[string]int{}
	for _, r := range env.log.since(since) {
		if !r.Content {
			own[r.Host]++ // Chromium's own services (refused by the proxy)
			continue
		}
		content++
		if !local(r.URL) {
			t.Errorf("the page or its worker sent a request off the origin %s: %s %s", origin.Host, r.Method, r.URL)
		}
		u, _ := url.Parse(r.URL)
		paths[u.Path] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for _, u := range seen {
		if !local(u) {
			t.Errorf("DevTools saw a request off the origin %s: %s", origin.Host, u)
		}
		if u, err := url.Parse(u); err == nil {
			paths[u.Path+"#devtools"] = true
		}
	}
	// Both records must see the engine's requests, or they prove nothing.
	for _, p := range []string{"/index.html", "/app.js", "/webpeft.js", "/worker.js", "/main.wasm", "/models/webpeft-default-q8_0.gguf",
		"/index.html#devtools", "/models/webpeft-default-q8_0.gguf#devtools"} {
		if !paths[p] {
			t.Errorf("the records have no request for %s", p)
		}
	}
	t.Logf("%d requests from the page and its worker, all to %s (DevTools saw %d); Chromium's own background requests, refused: %v",
		content, origin.Host, len(seen), own)
}

// TestBrowserAppOffline visits the app once (its service worker caches
// the app shell and the default model), cuts the network, reloads, and
// loads the default model and generates from the cache. It runs on the
// site's second origin, so that its service worker stays away from the
// other tests' pages.
func TestBrowserAppOffline(t *testing.T) {
	const budget = 5 * time.Minute
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	alt := altOrigin(base)
	defer env.log.offline.Store(false)
	openApp(t, ctx, alt)
	waitApp(t, ctx, "the app shell to be cached", 2*time.Minute, func(s appState) bool { return s.Ready && s.OfflineReady })
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`caches.keys().then(async (names) => {
		const urls = [];
		for (const n of names) for (const k of await (await caches.open(n)).keys()) urls.push(k.url);
		return JSON.stringify(urls); })`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/main.wasm", "/worker.js", "/models/webpeft-default-q8_0.gguf"} {
		if !strings.Contains(raw, want+`"`) {
			t.Errorf("the service worker's cache lacks %s: %s", want, raw)
		}
	}
	env.log.offline.Store(true)
	cut := time.Now()
	openApp(t, ctx, alt)
	waitApp(t, ctx, "the engine to start offline", 2*time.Minute, func(s appState) bool { return s.Ready && s.Busy == "" })
	click(t, ctx, "load-model")
	st := waitApp(t, ctx, "the default model to load offline", 2*time.Minute, func(s appState) bool { return s.Model != nil && s.Busy == "" })
	setField(t, ctx, "prompt", "The quick brown")
	setField(t, ctx, "max-tokens", 6)
	click(t, ctx, "generate")
	st = waitApp(t, ctx, "a sample offline", 2*time.Minute, func(s appState) bool { return s.Samples.Base != "" && s.Busy == "" })
	refused := 0
	host := strings.TrimPrefix(alt, "http://")
	for _, r := range env.log.since(cut) {
		if r.Host == host {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no request reached the cut network: the test proves nothing")
	}
	t.Logf("offline: the app loaded %q and generated %q from the cache (%d requests met the cut network)", st.Model.Name, st.Samples.Base, refused)
}
