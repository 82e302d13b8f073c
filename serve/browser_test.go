//go:build !js

package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/train"
	"webpeft/serve"
)

// The browser tests build the real wasm, serve site/ with it, and drive
// headless Chromium on its SwiftShader WebGPU adapter. One browser and one
// build are shared by every test in this binary.

const chromium = "/usr/bin/chromium"

type browserEnv struct {
	url    string
	ctx    context.Context // a browser; tests open tabs in it
	cancel func()
	err    error
	log    *requestLog // every request the browser made
}

var (
	envOnce sync.Once
	env     browserEnv
	// testRoutes serves /test/ and /hub/ on every origin of the site.
	testRoutes = http.NewServeMux()
)

// browser returns the shared browser and the site's URL. Without Chromium
// the tests skip, except under CI=true or WEBPEFT_REQUIRE_BROWSER=1 where
// they fail.
func browser(t testing.TB) (context.Context, string) {
	t.Helper()
	envOnce.Do(func() { env = startBrowser(chromedp.Flag("enable-unsafe-webgpu", true)) })
	if env.err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("WEBPEFT_REQUIRE_BROWSER") == "1" {
			t.Fatalf("browser tests are required here: %v", env.err)
		}
		t.Skipf("no browser: %v", env.err)
	}
	return env.ctx, env.url
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env.cancel != nil {
		env.cancel()
	}
	os.Exit(code)
}

func startBrowser(extra ...chromedp.ExecAllocatorOption) browserEnv {
	if _, err := os.Stat(chromium); err != nil {
		return browserEnv{err: fmt.Errorf("%s not found (apt-get install chromium)", chromium)}
	}
	dir, err := buildSite()
	if err != nil {
		return browserEnv{err: err}
	}
	// The site's server is also the browser's HTTP proxy (loopback
	// included), so that every request the browser makes — pages, workers,
	// fetches to any origin — reaches it and is logged; only the site's own
	// requests are answered.
	log := &requestLog{}
	site := serve.Handler(os.DirFS(dir))
	srv := httptest.NewServer(log.proxy(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Tests' own routes (a model server, a fake Hugging Face Hub).
		if strings.HasPrefix(r.URL.Path, "/test/") || strings.HasPrefix(r.URL.Path, "/hub/") {
			testRoutes.ServeHTTP(w, r)
			return
		}
		site.ServeHTTP(w, r)
	})))
	profile, err := os.MkdirTemp("", "webpeft-chromium-")
	if err != nil {
		return browserEnv{err: err}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Chromium's own services (autofill predictions, component and
		// extension updates, safe browsing, metrics) would otherwise talk to
		// Google through the proxy; the tests check that the app does not.
		chromedp.Flag("disable-features", "AutofillServerCommunication,OptimizationHints,OptimizationGuideModelDownloading,Translate,MediaRouter,CertificateTransparencyComponentUpdater"),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("proxy-server", srv.URL),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
	}
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		cancelCtx()
		cancelAlloc()
		return browserEnv{err: fmt.Errorf("starting %s: %w", chromium, err)}
	}
	return browserEnv{url: srv.URL, ctx: ctx, log: log, cancel: func() {
		cancelCtx()
		cancelAlloc()
		srv.Close()
		os.RemoveAll(profile)
		os.RemoveAll(dir)
	}}
}

// buildSite copies site/ into a temporary directory with the freshly built
// main.wasm and Go's wasm_exec.js.
func buildSite() (string, error) {
	dir, err := os.MkdirTemp("", "webpeft-site-")
	if err != nil {
		return "", err
	}
	err = filepath.WalkDir("../site", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../site", path)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if rel == "main.wasm" || rel == "wasm_exec.js" {
			return nil
		}
		return copyFile(path, filepath.Join(dir, rel))
	})
	if err != nil {
		return "", err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "main.wasm"), "webpeft/wasm")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the wasm: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", err
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")
	return dir, copyFile(src, filepath.Join(dir, "wasm_exec.js"))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runState mirrors window.webpeftRun (site/runner.js).
type runState struct {
	Done    bool   `json:"done"`
	Current string `json:"current"` // the case running now
	IdleMS  int64  `json:"idleMs"`  // since the page last heard from the engine
	Adapter string `json:"adapter"`
	Device  string `json:"device"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Error   string `json:"error"`
	Rows    []struct {
		Name   string  `json:"name"`
		OK     bool    `json:"ok"`
		Error  string  `json:"error"`
		Note   string  `json:"note"`
		MS     float64 `json:"ms"`
		GFLOPS float64 `json:"gflops"`
		// forward-pass benchmarks (type "forward")
		Type          string  `json:"type"`
		Prefill       float64 `json:"prefill"`
		PrefillGFLOPS float64 `json:"prefill_gflops"`
		Decode        float64 `json:"decode"`
		DecodeGFLOPS  float64 `json:"decode_gflops"`
		// training benchmarks (type "train")
		TrainTokS   float64 `json:"train_tokens_per_s"`
		TrainGFLOPS float64 `json:"train_gflops"`
		PeakBytes   float64 `json:"peak_gpu_bytes"`
		OpsPerStep  float64 `json:"ops_per_step"`
	} `json:"rows"`
}

// stallAfter is how long the engine may stay silent (no "start" or "case"
// event) before a run counts as stalled. The slowest case takes about 6 s on
// SwiftShader here (adamw/n=1000003), 15-40 s on a loaded machine, so
// minutes of silence mean a wait that will never end, not a slow machine.
const stallAfter = 3 * time.Minute

// benchStallAfter is stallAfter for the benchmark page, whose training
// benchmarks (a model load, a warm-up and two timed steps of a
// SmolLM2-135M-shaped model) take up to about 15 minutes each on
// SwiftShader.
const benchStallAfter = 20 * time.Minute

// runPage opens page in a new tab and waits, within budget, for its run to
// finish.
func runPage(t testing.TB, page string, budget time.Duration) runState {
	t.Helper()
	bctx, url := browser(t)
	return runPageIn(t, bctx, url, page, budget)
}

// runPageIn fails, naming the case it was in, when the page stalls (no
// engine event for stallAfter) or runs past budget.
func runPageIn(t testing.TB, bctx context.Context, url, page string, budget time.Duration) runState {
	t.Helper()
	tab, cancel := chromedp.NewContext(bctx)
	defer cancel()
	// The context that creates the tab must outlive the polling below, so
	// that the state can still be read after a stall.
	ctx, cancelTimeout := context.WithTimeout(tab, budget+time.Minute)
	defer cancelTimeout()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url+"/"+page)); err != nil {
		t.Fatalf("opening %s: %v", page, err)
	}
	const read = `(() => { const s = window.webpeftRun; return s ? JSON.stringify({...s, idleMs: Date.now() - s.lastEventAt}) : ""; })()`
	stall := stallAfter
	if strings.HasPrefix(page, "bench") {
		stall = benchStallAfter
	}
	var st runState
	start := time.Now()
	for {
		// Errors here are transient (the page is still loading): retry.
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](read))
		if err == nil && raw != "" {
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				t.Fatalf("reading the page's state: %v", err)
			}
			if st.Done {
				return st
			}
			if time.Duration(st.IdleMS)*time.Millisecond > stall {
				logRows(t, st)
				t.Fatalf("%s stalled in case %q: no word from the engine for %v (%d cases done)",
					page, st.Current, time.Duration(st.IdleMS)*time.Millisecond, len(st.Rows))
			}
		}
		if time.Since(start) > budget {
			logRows(t, st)
			t.Fatalf("%s did not finish within %v (in case %q, %d cases done, last error %v)",
				page, budget, st.Current, len(st.Rows), err)
		}
		time.Sleep(time.Second)
	}
}

// logRows logs the events a run that is about to fail had finished, so
// that the figures of a long benchmark run are not lost with it.
func logRows(t testing.TB, st runState) {
	t.Helper()
	for _, r := range st.Rows {
		raw, _ := json.Marshal(r)
		t.Logf("finished before the failure: %s", raw)
	}
}

// TestBrowserNoAdapter opens the op-test page in a second browser started
// without WebGPU and checks that the page says so in plain words.
func TestBrowserNoAdapter(t *testing.T) {
	browser(t) // skip or fail exactly as the other browser tests do
	noGPU := startBrowser(chromedp.Flag("disable-features", "WebGPU,Vulkan"))
	if noGPU.err != nil {
		t.Fatal(noGPU.err)
	}
	defer noGPU.cancel()
	st := runPageIn(t, noGPU.ctx, noGPU.url, "tests.html", 2*time.Minute)
	if !strings.Contains(st.Error, "No WebGPU adapter is available") {
		t.Fatalf("without WebGPU the page said %q; want a plain 'No WebGPU adapter is available' message", st.Error)
	}
	t.Logf("without WebGPU the page says: %s", st.Error)

	// The app says what is missing and what to do, before loading anything.
	tab, cancel := chromedp.NewContext(noGPU.ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(tab, time.Minute)
	defer cancelTimeout()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(noGPU.url+"/index.html")); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(window.webpeftApp && window.webpeftApp.unsupported) || ""`))
		if err == nil && msg != "" {
			// navigator.gpu missing, or present without an adapter (as here).
			missing := strings.Contains(msg, "WebGPU is not available") || strings.Contains(msg, "no GPU adapter is available")
			if !missing || !strings.Contains(msg, "try another browser") {
				t.Fatalf("without WebGPU the app says %q; want what is missing and what to do", msg)
			}
			t.Logf("without WebGPU the app says: %s", msg)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("without WebGPU the app said nothing within a minute (%v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestBrowserOpTests runs every ops parity case and the whole-model cases
// (model.Cases) through the real wasm in Chromium and asserts they all pass.
// WEBPEFT_BROWSER_RUN=REGEXP runs only the cases whose name matches
// (tests.html?run=REGEXP).
func TestBrowserOpTests(t *testing.T) {
	page := "tests.html"
	if run := os.Getenv("WEBPEFT_BROWSER_RUN"); run != "" {
		page += "?run=" + url.QueryEscape(run)
	}
	st := runPage(t, page, 25*time.Minute)
	if st.Error != "" {
		t.Fatalf("the page reported: %s", st.Error)
	}
	for _, r := range st.Rows {
		if !r.OK {
			t.Errorf("%s failed in the browser: %s", r.Name, r.Error)
		}
		if strings.HasPrefix(r.Name, "curve/") && r.OK {
			checkCurve(t, strings.TrimPrefix(r.Name, "curve/"), r.Note)
			continue
		}
		if r.Note != "" {
			t.Logf("browser %s: %s (%.0f ms)", r.Name, r.Note, r.MS)
		}
	}
	if st.Passed == 0 {
		t.Fatal("no browser cases ran")
	}
	t.Logf("browser: %d passed, %d failed on %s", st.Passed, st.Failed, st.Device)
}

// BenchmarkBrowserKernels runs bench.html (every ops.Benches() entry, the
// forward and the training benchmarks, through the wasm) and reports
// GFLOP/s per kernel, tokens/s and peak memory per model benchmark:
//
//	go test ./serve -run '^$' -bench Browser -benchtime 1x -timeout 60m
//
// WEBPEFT_BROWSER_RUN=REGEXP keeps the benchmarks whose name matches (and
// fma_peak), e.g. 'train/Q8_0' (bench.html?run=REGEXP): on SwiftShader
// every training benchmark takes several minutes.
func BenchmarkBrowserKernels(b *testing.B) {
	page := "bench.html"
	if run := os.Getenv("WEBPEFT_BROWSER_RUN"); run != "" {
		page += "?run=" + url.QueryEscape(run)
	}
	st := runPage(b, page, 55*time.Minute)
	if st.Error != "" {
		b.Fatalf("the page reported: %s", st.Error)
	}
	b.Logf("adapter: %s", st.Device)
	for _, r := range st.Rows {
		b.Run(r.Name, func(b *testing.B) {
			if r.Error != "" {
				b.Fatal(r.Error)
			}
			if r.Type == "forward" {
				b.ReportMetric(r.Prefill, "prefill-tok/s")
				b.ReportMetric(r.PrefillGFLOPS, "prefill-GFLOP/s")
				b.ReportMetric(r.Decode, "decode-tok/s")
				b.ReportMetric(r.DecodeGFLOPS, "decode-GFLOP/s")
				return
			}
			if r.Type == "train" {
				b.ReportMetric(r.TrainTokS, "train-tok/s")
				b.ReportMetric(r.TrainGFLOPS, "GFLOP/s")
				b.ReportMetric(r.PeakBytes/(1<<20), "peak-MiB")
				b.ReportMetric(r.OpsPerStep, "ops/step")
				return
			}
			b.ReportMetric(r.GFLOPS, "GFLOP/s")
		})
	}
}

// checkCurve compares a PEFT method's first train.CurveSteps losses in
// the browser (SwiftShader) with the same run natively (lavapipe): within
// 1e-3, the same training on another adapter.
func checkCurve(t *testing.T, method, note string) {
	t.Helper()
	var browser []float64
	if err := json.Unmarshal([]byte(note), &browser); err != nil {
		t.Errorf("curve/%s: the page's losses %q: %v", method, note, err)
		return
	}
	m, err := train.CurveModel()
	if err != nil {
		t.Fatal(err)
	}
	native, err := train.Curve(gputest.Device(t), m, method, train.CurveSteps)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range native {
		if i >= len(browser) {
			t.Errorf("curve/%s: %d losses from the browser, want %d", method, len(browser), len(native))
			return
		}
		worst = max(worst, math.Abs(browser[i]-native[i]))
	}
	t.Logf("curve/%s: %d steps, loss %.4f -> %.4f natively; browser within %.2g", method, len(native), native[0], native[len(native)-1], worst)
	if !(worst <= 1e-3) {
		t.Errorf("curve/%s: the browser's losses differ from the native run's by up to %g (> 1e-3)", method, worst)
	}
}

// requestLog records the requests the browser sends to its proxy.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
	// The site is also served at other origins, 127.0.0.2 to 127.0.0.9 on
	// the same port (tests that leave state behind, such as a service
	// worker or stored runs, use them); offline cuts 127.0.0.2's network:
	// its connections are closed unanswered.
	offline atomic.Bool
}

// altOrigin is the second origin of the site at siteURL.
func altOrigin(siteURL string) string {
	return strings.Replace(siteURL, "127.0.0.1", "127.0.0.2", 1)
}

// nthOrigin is the site at 127.0.0.n (n from 2 to 9), an origin of its
// own: its storage (OPFS, service worker) is apart from the other tests'.
func nthOrigin(siteURL string, n int) string {
	return strings.Replace(siteURL, "127.0.0.1", fmt.Sprintf("127.0.0.%d", n), 1)
}

// otherOrigin reports whether host is one of the site's other origins
// (127.0.0.2 to 127.0.0.9 on the server's port).
func otherOrigin(self, host string) bool {
	for n := 2; n <= 9; n++ {
		if host == strings.Replace(self, "127.0.0.1", fmt.Sprintf("127.0.0.%d", n), 1) {
			return true
		}
	}
	return false
}

type loggedRequest struct {
	At     time.Time
	Method string
	URL    string // absolute
	Host   string
	// Content: the request carries Sec-Fetch-Mode, which browsers send
	// with every request of web content (pages, workers) and not with
	// Chromium's own background requests.
	Content bool
}

// proxy logs each request and serves the site's own (same host as the
// server); a request for any other origin, or a CONNECT tunnel, is
// refused.
func (l *requestLog) proxy(site http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if r.URL.Host != "" {
			host = r.URL.Host
		}
		u := r.URL.String()
		if r.URL.Host == "" {
			u = "http://" + host + r.URL.RequestURI()
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, loggedRequest{At: time.Now(), Method: r.Method, URL: u, Host: host,
			Content: r.Header.Get("Sec-Fetch-Mode") != ""})
		l.mu.Unlock()
		self := r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
		if r.Method != http.MethodConnect && host != self && otherOrigin(self, host) {
			if host == strings.Replace(self, "127.0.0.1", "127.0.0.2", 1) && l.offline.Load() {
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
						return
					}
				}
				http.Error(w, "offline", http.StatusBadGateway)
				return
			}
			site.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodConnect || host != self {
			http.Error(w, "webpeft tests: no request may leave the site's origin", http.StatusForbidden)
			return
		}
		site.ServeHTTP(w, r)
	})
}

// since returns the requests logged at or after t.
func (l *requestLog) since(t time.Time) []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedRequest
	for _, r := range l.reqs {
		if !r.At.Before(t) {
			out = append(out, r)
		}
	}
	return out
}
