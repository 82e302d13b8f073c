//go:build !js

package serve_test

import (
	"time"

	"bytes"
	"encoding/json"
	"fmt"
	"github.com/chromedp/chromedp"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"webpeft/engine/format/safetensors"
	"webpeft/engine/model"
)

// writeHFFixture writes the stand-in model (serve/testdata/standin.gguf) as
// a Hugging Face folder in dir, with model.WriteHF: config.json,
// tokenizer.json, tokenizer_config.json and model.safetensors (F32). With
// shards > 1 the weights are split into model-0000N-of-0000M.safetensors
// files named by model.safetensors.index.json, as the Hub stores large
// models.
func writeHFFixture(t *testing.T, dir string, shards int) []string {
	t.Helper()
	b, err := os.ReadFile(standInPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenGGUF(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := model.WriteHF(dir, m); err != nil {
		t.Fatal(err)
	}
	if shards > 1 {
		splitSafetensors(t, dir, shards)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// splitSafetensors replaces dir/model.safetensors with n shards and an
// index.
func splitSafetensors(t *testing.T, dir string, n int) {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	groups := make([][]safetensors.WriteTensor, n)
	weightMap := map[string]string{}
	for i, ti := range f.Tensors {
		data := raw[ti.Begin:ti.End]
		k := i * n / len(f.Tensors)
		groups[k] = append(groups[k], safetensors.WriteTensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: data})
		weightMap[ti.Name] = fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, n)
	}
	for k, g := range groups {
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, g, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, n)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	index, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": len(raw)}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// fakeHub serves folders as Hugging Face repositories under /hub/:
// /hub/OWNER/NAME/resolve/REV/FILE, with Range support, logging each
// request (path, Range and Authorization headers). down makes it answer
// 503 (the network is gone).
type fakeHub struct {
	mu    sync.Mutex
	repos map[string]string // "OWNER/NAME" -> folder
	reqs  []hubRequest
	down  bool
}

type hubRequest struct {
	Path, Range, Auth string
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.reqs = append(h.reqs, hubRequest{Path: r.URL.Path, Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization")})
	down := h.down
	h.mu.Unlock()
	if down {
		http.Error(w, "the hub is down", http.StatusServiceUnavailable)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/hub/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" || parts[3] != "main" {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	dir, ok := h.repos[parts[0]+"/"+parts[1]]
	h.mu.Unlock()
	if !ok {
		http.Error(w, "Repository not found", http.StatusUnauthorized) // as the Hub answers
		return
	}
	http.ServeFile(w, r, filepath.Join(dir, filepath.FromSlash(parts[4])))
}

func (h *fakeHub) requests() []hubRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hubRequest(nil), h.reqs...)
}

func (h *fakeHub) setDown(v bool) {
	h.mu.Lock()
	h.down = v
	h.mu.Unlock()
}

var (
	hubOnce sync.Once
	hub     = &fakeHub{repos: map[string]string{}}
)

// registerHub mounts the fake hub at /hub/ (once per test binary).
func registerHub() {
	hubOnce.Do(func() { testRoutes.Handle("/hub/", hub) })
}

func sortedPaths(reqs []hubRequest) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Path)
	}
	sort.Strings(out)
	return out
}

// flakyModel serves a model file with Range support; its first whole-file
// request is cut after a third of the body (the connection closes), as a
// dropped network would. down makes it answer 503.
type flakyModel struct {
	mu     sync.Mutex
	data   []byte
	cut    bool
	ranges []string // the Range header of each request ("" for none)
	down   bool
}

func (f *flakyModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	cut := !f.cut && r.Header.Get("Range") == ""
	f.cut = f.cut || cut
	down := f.down
	f.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if cut {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
		w.WriteHeader(http.StatusOK)
		w.Write(f.data[:len(f.data)/3])
		w.(http.Flusher).Flush()
		time.Sleep(time.Second) // the bytes reach the page before the connection drops
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	http.ServeContent(w, r, "model.gguf", time.Time{}, bytes.NewReader(f.data))
}

func (f *flakyModel) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ranges...)
}

var (
	flakyOnce sync.Once
	flakyNow  atomic.Pointer[flakyModel] // the model /test/flaky/ serves
)

// cacheRun mirrors window.cacheRun of the model cache test's script.
type cacheRun struct {
	Done     bool          `json:"done"`
	Error    string        `json:"error"`
	Phase    string        `json:"phase"`
	FirstErr string        `json:"firstErr"`
	Partial  []cachedModel `json:"partial"`
	Whole    []cachedModel `json:"whole"`
	Offline  string        `json:"offline"`
	Sample   string        `json:"sample"`
	Storage  struct {
		Usage float64 `json:"usage"`
		Quota float64 `json:"quota"`
	} `json:"storage"`
	Progress []string `json:"progress"`
}

type cachedModel struct {
	Key      string `json:"key"`
	Kind     string `json:"kind"`
	Source   string `json:"source"`
	Bytes    int64  `json:"bytes"`
	Complete bool   `json:"complete"`
	Files    []struct {
		Name     string `json:"name"`
		Size     int64  `json:"size"`
		Complete bool   `json:"complete"`
	} `json:"files"`
}

// TestBrowserModelCache loads a model from a URL whose first download is
// cut a third of the way: the load fails saying so, the cache lists the
// partial file; loading again continues with a Range request from where
// it stopped, checks the size and loads; with the server gone the model
// loads from the cache alone and generates. The app's page then lists it
// with its size and the storage quota, and its Delete button removes it.
// It runs on an origin of its own (127.0.0.4).
func TestBrowserModelCache(t *testing.T) {
	const budget = 8 * time.Minute
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	data, err := os.ReadFile(standInPath)
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyModel{data: data}
	flakyNow.Store(flaky)
	flakyOnce.Do(func() {
		testRoutes.Handle("/test/flaky/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { flakyNow.Load().ServeHTTP(w, r) }))
	})
	origin := nthOrigin(base, 4)
	modelURL := origin + "/test/flaky/standin.gguf"
	if _, err := chromedp.Run(ctx, chromedp.Navigate(origin+"/api.html")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "webpeft.js import", `JSON.stringify(typeof WebPeft === "function")`, time.Minute, func(ok bool) bool { return ok })
	script := fmt.Sprintf(`(() => {
  const r = window.cacheRun = { done: false, error: "", phase: "create", progress: [] };
  const url = %q;
  (async () => {
    const wp = window.wp = await WebPeft.create();
    r.phase = "first";
    try { await wp.loadModel(url); r.firstErr = "(loaded)"; } catch (e) { r.firstErr = String(e.message); }
    r.partial = await wp.cachedModels();
    r.phase = "again";
    await wp.loadModel(url, { onProgress: (p) => r.progress.push(p.phase + " " + p.done + "/" + p.total) });
    r.whole = await wp.cachedModels();
    r.storage = await wp.storage();
    r.phase = "waitOffline";
    while (!window.goOffline) await new Promise((ok) => setTimeout(ok, 100));
    r.phase = "offline";
    r.offline = JSON.stringify(await wp.loadModel(url));
    r.sample = await wp.generate("The quick brown", { maxTokens: 4 });
    r.phase = "done";
  })().catch((e) => { r.error = String((e && e.message) || e) + " (in " + r.phase + ")"; }).finally(() => { r.done = r.phase === "done" || r.error !== ""; });
  return "started";
})()`, modelURL)
	js(t, ctx, script)
	r := waitFor(t, ctx, "the downloads", `JSON.stringify(window.cacheRun)`, 4*time.Minute, func(r cacheRun) bool { return r.Done || r.Phase == "waitOffline" })
	if r.Error != "" {
		t.Fatalf("the model cache run failed: %s", r.Error)
	}
	t.Logf("the cut download: %s", r.FirstErr)
	if !strings.Contains(r.FirstErr, "interrupted") {
		t.Errorf("the cut download failed with %q; want it to say the download was interrupted", r.FirstErr)
	}
	if len(r.Partial) != 1 || r.Partial[0].Complete || r.Partial[0].Bytes <= 0 || r.Partial[0].Bytes >= int64(len(data)) {
		t.Fatalf("after the cut the cache lists %+v; want one partial model", r.Partial)
	}
	stored := r.Partial[0].Bytes
	ranges := flaky.requests()
	want := fmt.Sprintf("bytes=%d-", stored)
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != want {
		t.Errorf("the server saw the Range headers %q; want a whole request, then %q (the %d stored bytes kept)", ranges, want, stored)
	}
	if len(r.Whole) != 1 || !r.Whole[0].Complete || r.Whole[0].Bytes != int64(len(data)) || r.Whole[0].Source != modelURL {
		t.Fatalf("after the second load the cache lists %+v; want the whole %d-byte model", r.Whole, len(data))
	}
	if !(r.Storage.Usage > 0 && r.Storage.Quota > 0) {
		t.Errorf("storage estimate %+v", r.Storage)
	}
	t.Logf("cut after %d of %d bytes; resumed with %q; stored %d bytes (usage %.1f MiB of a %.0f MiB quota)",
		stored, len(data), ranges[1], r.Whole[0].Bytes, r.Storage.Usage/(1<<20), r.Storage.Quota/(1<<20))
	// Offline: the server answers nothing useful any more.
	flaky.mu.Lock()
	flaky.down = true
	flaky.mu.Unlock()
	n := len(flaky.requests())
	js(t, ctx, `window.goOffline = true`)
	r = waitFor(t, ctx, "the offline load", `JSON.stringify(window.cacheRun)`, 3*time.Minute, func(r cacheRun) bool { return r.Done })
	if r.Error != "" {
		t.Fatalf("loading the cached model offline: %s", r.Error)
	}
	if got := len(flaky.requests()); got != n {
		t.Errorf("loading the cached model sent %d requests to the server", got-n)
	}
	t.Logf("offline: loaded from the cache and generated %q", r.Sample)

	// The app lists it, with the storage quota; Delete removes it.
	openApp(t, ctx, origin)
	st := waitStore(t, ctx, "the cache listing", 2*time.Minute, func(s storeState) bool { return s.Ready && s.Storage != nil && len(s.Cache) > 0 })
	if st.Cache[0].Bytes != int64(len(data)) || !st.Cache[0].Complete {
		t.Errorf("the app lists %+v", st.Cache)
	}
	var row, quota string
	evalJSON(ctx, `JSON.stringify(document.querySelector("#cache-list tr").textContent)`, &row)
	evalJSON(ctx, `JSON.stringify(document.getElementById("storage-info").textContent)`, &quota)
	t.Logf("the app's cache list: %q; %q", row, quota)
	if !strings.Contains(row, "MiB") || !strings.Contains(quota, "of") {
		t.Errorf("the cache list shows %q and %q; want the size and the quota", row, quota)
	}
	screenshot(t, ctx, "6-model-cache", "#model-section")
	js(t, ctx, `document.querySelector("#cache-list .cache-delete").click()`)
	waitStore(t, ctx, "the delete", time.Minute, func(s storeState) bool { return len(s.Cache) == 0 })
}

// hfRun mirrors window.hfRun of the Hugging Face test's script.
type hfRun struct {
	Done         bool          `json:"done"`
	Error        string        `json:"error"`
	Phase        string        `json:"phase"`
	Info         appInfo       `json:"info"`
	HubSample    string        `json:"hubSample"`
	Cached       []cachedModel `json:"cached"`
	OfflineName  string        `json:"offlineName"`
	FolderSample string        `json:"folderSample"`
	GGUFSample   string        `json:"ggufSample"`
	Missing      string        `json:"missing"`
}

// TestBrowserHF loads a Hugging Face model id through a fake Hub (the
// test server at /hub/, given as hubBase): config.json, tokenizer files
// and the shards its index names, sent with the access token, into the
// model cache; it loads again with the Hub down (from the cache alone);
// then the same folder as picked files. The model is the stand-in written
// as a Hugging Face folder (model.WriteHF, two shards): all three
// sample (temperature 1, one seed) what the GGUF stand-in samples. An unknown repository fails
// with the Hub's answer. Then the app's folder picker loads the folder.
// It runs on an origin of its own (127.0.0.5).
func TestBrowserHF(t *testing.T) {
	const budget = 8 * time.Minute
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	dir := t.TempDir()
	files := writeHFFixture(t, dir, 2)
	t.Logf("the fixture folder: %v", files)
	registerHub()
	hub.mu.Lock()
	hub.repos["webpeft-test/tiny-sharded"] = dir
	hub.mu.Unlock()
	hub.setDown(false)
	defer hub.setDown(false)
	origin := nthOrigin(base, 5)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(origin+"/api.html")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "webpeft.js import", `JSON.stringify(typeof WebPeft === "function")`, time.Minute, func(ok bool) bool { return ok })
	names, _ := json.Marshal(files)
	script := `(() => {
  const r = window.hfRun = { done: false, error: "", phase: "create" };
  const names = ` + string(names) + `;
  const prompt = "The quick brown";
  (async () => {
    const wp = await WebPeft.create({ hubBase: location.origin + "/hub" });
    r.phase = "hub";
    r.info = await wp.loadModel("webpeft-test/tiny-sharded", { token: "hf_test_token" });
    r.hubSample = await wp.generate(prompt, { maxTokens: 12, temperature: 1, seed: 3 });
    r.cached = await wp.cachedModels();
    r.phase = "missing";
    try { await wp.loadModel("webpeft-test/none"); r.missing = "(loaded)"; } catch (e) { r.missing = String(e.message); }
    r.phase = "waitOffline";
    while (!window.goOffline) await new Promise((ok) => setTimeout(ok, 100));
    r.phase = "offline";
    r.offlineName = (await wp.loadModel("hf:webpeft-test/tiny-sharded")).model.name;
    r.phase = "folder";
    const list = [];
    for (const n of names) list.push({ name: n, data: await (await fetch("/test/hffolder/" + n)).blob() });
    await wp.loadModel(list, { name: "tiny folder" });
    r.folderSample = await wp.generate(prompt, { maxTokens: 12, temperature: 1, seed: 3 });
    r.phase = "gguf";
    await wp.loadModel(location.origin + "/test/standin.gguf", { cache: false });
    r.ggufSample = await wp.generate(prompt, { maxTokens: 12, temperature: 1, seed: 3 });
    r.phase = "done";
  })().catch((e) => { r.error = String((e && e.message) || e) + " (in " + r.phase + ")"; }).finally(() => { r.done = r.phase === "done" || r.error !== ""; });
  return "started";
})()`
	hfFolder.Store(dir)
	hfFolderOnce.Do(func() {
		testRoutes.Handle("/test/hffolder/", http.StripPrefix("/test/hffolder/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.FileServer(http.Dir(hfFolder.Load().(string))).ServeHTTP(w, r)
		})))
		testRoutes.HandleFunc("/test/standin.gguf", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, standInPath) })
	})
	js(t, ctx, script)
	r := waitFor(t, ctx, "the Hub load", `JSON.stringify(window.hfRun)`, 4*time.Minute, func(r hfRun) bool { return r.Done || r.Phase == "waitOffline" })
	if r.Error != "" {
		t.Fatalf("the Hugging Face run failed: %s", r.Error)
	}
	reqs := hub.requests()
	t.Logf("the Hub saw %v", sortedPaths(reqs))
	got := map[string]bool{}
	for _, q := range reqs {
		if strings.HasPrefix(q.Path, "/hub/webpeft-test/tiny-sharded/") {
			got[strings.TrimPrefix(q.Path, "/hub/webpeft-test/tiny-sharded/resolve/main/")] = true
			if q.Auth != "Bearer hf_test_token" {
				t.Errorf("%s was asked for with Authorization %q, want the token", q.Path, q.Auth)
			}
		}
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json",
		"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if !got[f] {
			t.Errorf("the Hub was not asked for %s", f)
		}
	}
	if got["model.safetensors"] {
		t.Error("the Hub was asked for model.safetensors although the index names shards")
	}
	if len(r.Cached) != 1 || r.Cached[0].Kind != "hf" || !r.Cached[0].Complete || len(r.Cached[0].Files) < 5 {
		t.Errorf("the cache lists %+v", r.Cached)
	}
	if !strings.Contains(r.Missing, "401") {
		t.Errorf("an unknown repository failed with %q; want the Hub's 401", r.Missing)
	}
	t.Logf("loaded %q from the Hub (%s); unknown repository: %s", r.Info.Model.Name, r.Info.Device.Summary, r.Missing)
	hub.setDown(true)
	n := len(hub.requests())
	js(t, ctx, `window.goOffline = true`)
	r = waitFor(t, ctx, "the offline, folder and GGUF loads", `JSON.stringify(window.hfRun)`, 4*time.Minute, func(r hfRun) bool { return r.Done })
	if r.Error != "" {
		t.Fatalf("the Hugging Face run failed: %s", r.Error)
	}
	if extra := len(hub.requests()) - n; extra != 0 {
		t.Errorf("loading the cached repository sent %d requests to the Hub", extra)
	}
	t.Logf("samples: Hub %q, folder %q, GGUF %q", r.HubSample, r.FolderSample, r.GGUFSample)
	if r.HubSample == "" || r.HubSample != r.FolderSample || r.HubSample != r.GGUFSample {
		t.Errorf("the Hugging Face model generates %q (Hub) and %q (folder); the GGUF it was written from %q", r.HubSample, r.FolderSample, r.GGUFSample)
	}

	// The app's folder picker (input webkitdirectory).
	openApp(t, ctx, origin)
	waitApp(t, ctx, "the engine to start", 2*time.Minute, func(s appState) bool { return s.Ready && s.Busy == "" })
	// A webkitdirectory input takes the folder itself: its files come
	// with webkitRelativePath "FOLDER/NAME".
	if _, err := chromedp.Run(ctx, chromedp.SetUploadFiles("#model-folder", []string{dir})); err != nil {
		t.Fatalf("choosing the folder's files: %v", err)
	}
	js(t, ctx, `document.getElementById("model-folder").dispatchEvent(new Event("change"))`)
	click(t, ctx, "load-model")
	st := waitApp(t, ctx, "the folder to load", 2*time.Minute, func(s appState) bool { return s.Model != nil && s.Busy == "" })
	t.Logf("the app loaded the picked folder as %q", st.Model.Name)
	if st.Model.Name != filepath.Base(dir) {
		t.Errorf("the picked folder loaded as %q, want its name %q", st.Model.Name, filepath.Base(dir))
	}
}

var (
	hfFolderOnce sync.Once
	hfFolder     atomic.Value // the fixture folder /test/hffolder/ serves
)
