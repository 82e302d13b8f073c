//go:build !js

package serve_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tokenizer"
	"webpeft/engine/train"
)

// The web app's tests: the JS API (webpeft.js) and the UI (index.html,
// app.js) driven in the shared headless Chromium on SwiftShader, on the
// default model (site/models/webpeft-default-q8_0.gguf).

// appData is the small dataset the app tests train on: a few sentences
// repeated, so that 20 LoRA steps visibly lower the loss even on random
// weights.
var appData = strings.Repeat("The quick brown fox jumps over the lazy dog. "+
	"A journey of a thousand miles begins with a single step. "+
	"Every cloud has a silver lining. ", 12)

// appTrain are the training options of the app tests.
const (
	appSteps = 20
	appSeq   = 32
	appLR    = 1e-2
	appSeed  = 1
)

// appTargets are the LoRA targets of the app tests.
var appTargets = []string{"q", "v", "o", "down"}

// openTab opens a tab in the shared browser with a deadline.
func openTab(t *testing.T, budget time.Duration) (context.Context, string, func()) {
	t.Helper()
	bctx, url := browser(t)
	tab, cancelTab := chromedp.NewContext(bctx)
	ctx, cancel := context.WithTimeout(tab, budget)
	return ctx, url, func() { cancel(); cancelTab() }
}

// evalJSON evaluates expr (which returns a JSON string) and decodes it.
func evalJSON(ctx context.Context, expr string, v any) error {
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(raw), v)
}

// waitFor polls expr (a JS expression returning a JSON string) every
// second until done says so, failing after budget. what names the wait.
func waitFor[T any](t *testing.T, ctx context.Context, what, expr string, budget time.Duration, done func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(budget)
	var v T
	var err error
	for {
		var cur T
		if err = evalJSON(ctx, expr, &cur); err == nil {
			v = cur
			if done(v) {
				return v
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not done within %v (last state %+v, last error %v)", what, budget, v, err)
		}
		time.Sleep(time.Second)
	}
}

// apiRun mirrors window.apiRun of apiScript.
type apiRun struct {
	Done     bool              `json:"done"`
	Error    string            `json:"error"`
	Phase    string            `json:"phase"`
	Progress int               `json:"progress"`
	Info     appInfo           `json:"info"`
	Stats    map[string]any    `json:"stats"`
	Steps    []stepEvent       `json:"steps"`
	Summary  trainSummary      `json:"summary"`
	Base     string            `json:"base"`
	Adapted  string            `json:"adapted"`
	Tokens   int               `json:"tokens"`
	Reloaded string            `json:"reloaded"`
	HFError  string            `json:"hfError"`
	Files    map[string]string `json:"files"` // "format/name" -> base64
}

type appInfo struct {
	Model struct {
		Name  string `json:"name"`
		Vocab int    `json:"vocab"`
	} `json:"model"`
	Device struct {
		Summary string `json:"summary"`
	} `json:"device"`
}

type stepEvent struct {
	Step    int      `json:"step"`
	Steps   int      `json:"steps"`
	Loss    float64  `json:"loss"`
	ValLoss *float64 `json:"valLoss"`
	TokS    float64  `json:"tokensPerSecond"`
	ETA     float64  `json:"eta"`
}

type trainSummary struct {
	Steps   int     `json:"steps"`
	Loss    float64 `json:"loss"`
	ValLoss float64 `json:"valLoss"`
	TokS    float64 `json:"tokensPerSecond"`
	Stopped bool    `json:"stopped"`
}

// trainOptionsJS is the app tests' training options as a JS object.
func trainOptionsJS() string {
	targets, _ := json.Marshal(appTargets)
	data, _ := json.Marshal(appData)
	return fmt.Sprintf(`{data: %s, method: "lora", steps: %d, seq: %d, lr: %g, seed: %d, targets: %s, rank: 8, alpha: 16, schedule: "constant", evalEvery: 10}`,
		data, appSteps, appSeq, appLR, appSeed, targets)
}

// apiScript drives webpeft.js on api.html: load the default model, train,
// generate with and without the adapter, export every format, load the
// exported adapter back and generate again.
func apiScript() string {
	return `(() => {
  const r = window.apiRun = { done: false, error: "", phase: "create", progress: 0, steps: [], files: {}, tokens: 0 };
  const b64 = (buf) => { let s = ""; const u = new Uint8Array(buf); for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode(...u.subarray(i, i + 8192)); return btoa(s); };
  (async () => {
    const wp = await WebPeft.create();
    r.phase = "load";
    r.info = await wp.loadModel("default", { onProgress: () => r.progress++ });
    r.phase = "stats";
    const opts = ` + trainOptionsJS() + `;
    r.stats = await wp.dataStats({ data: opts.data, seq: opts.seq, seed: opts.seed });
    r.phase = "base";
    r.base = await wp.generate("The quick brown", { maxTokens: 12 });
    r.phase = "train";
    r.summary = await wp.train(opts, { onStep: (s) => r.steps.push(s) });
    r.phase = "adapted";
    r.adapted = await wp.generate("The quick brown", { maxTokens: 12, adapter: true, onToken: () => r.tokens++ });
    r.phase = "export";
    for (const format of ["native", "peft", "gguf"]) {
      for (const f of await wp.exportAdapter(format)) {
        if (!(f instanceof Blob)) throw new Error("exportAdapter returned a non-Blob");
        r.files[format + "/" + f.name] = b64(await f.arrayBuffer());
      }
    }
    r.phase = "reload";
    await wp.loadAdapter(await wp.exportAdapter("peft"));
    r.reloaded = await wp.generate("The quick brown", { maxTokens: 12, adapter: true });
    r.phase = "hf";
    // A Hugging Face reference resolves to the Hub (which the test proxy
    // refuses): the call must fail with a message, not hang.
    try { await wp.loadModel("hf:webpeft-test/none/m.gguf", { token: "t" }); } catch (e) { r.hfError = String(e.message); }
    r.phase = "done";
  })().catch((e) => { r.error = String((e && e.message) || e) + " (in " + r.phase + ")"; }).finally(() => { r.done = true; });
  return "started";
})()`
}

// TestBrowserAPI trains a LoRA on the default model through webpeft.js
// alone and checks the loss, the generations and the exported files.
func TestBrowserAPI(t *testing.T) {
	const budget = 10 * time.Minute
	ctx, url, cancel := openTab(t, budget+time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url+"/api.html")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "webpeft.js import", `JSON.stringify(typeof WebPeft === "function")`, time.Minute, func(ok bool) bool { return ok })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](apiScript())); err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, ctx, "the API run", `JSON.stringify(window.apiRun)`, budget, func(r apiRun) bool { return r.Done })
	if r.Error != "" {
		t.Fatalf("the API run failed: %s", r.Error)
	}
	t.Logf("API run in %v on %s: %d steps, loss %.3f -> %.3f, val %.3f, %.1f tok/s", time.Since(start).Round(time.Second),
		r.Info.Device.Summary, len(r.Steps), r.Steps[0].Loss, r.Summary.Loss, r.Summary.ValLoss, r.Summary.TokS)
	if r.Info.Model.Name != defaultModelName || r.Progress == 0 {
		t.Errorf("the default model: %+v, %d progress events", r.Info.Model, r.Progress)
	}
	checkSteps(t, r.Steps, r.Summary)
	if r.Base == "" || r.Adapted == "" || r.Tokens == 0 {
		t.Errorf("generations: base %q, adapted %q (%d streamed pieces)", r.Base, r.Adapted, r.Tokens)
	}
	if r.Reloaded != r.Adapted {
		t.Errorf("the re-loaded PEFT export generates %q, the trained adapter %q", r.Reloaded, r.Adapted)
	}
	t.Logf("base: %q; adapted: %q", r.Base, r.Adapted)
	if !strings.Contains(r.HFError, "https://huggingface.co/webpeft-test/none/resolve/main/m.gguf") {
		t.Errorf("loading a Hugging Face file with the network refused: %q; want an error naming its resolved URL", r.HFError)
	}
	files := map[string][]byte{}
	for name, b := range r.Files {
		raw, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = raw
	}
	checkAdapterFiles(t, files, r.Summary.ValLoss)
}

// checkSteps checks the step events: every step reported, the loss
// falling, validation measured, speed and ETA given.
func checkSteps(t *testing.T, steps []stepEvent, sum trainSummary) {
	t.Helper()
	if len(steps) != appSteps || sum.Steps != appSteps || sum.Stopped {
		t.Fatalf("%d step events, summary %+v; want %d steps", len(steps), sum, appSteps)
	}
	for i, s := range steps {
		if s.Step != i+1 || s.Steps != appSteps || !(s.TokS > 0) || s.ETA < 0 {
			t.Errorf("step event %d: %+v", i, s)
		}
	}
	first := (steps[0].Loss + steps[1].Loss) / 2
	last := (steps[len(steps)-1].Loss + steps[len(steps)-2].Loss) / 2
	if !(last < first-0.5) {
		t.Errorf("the loss did not fall: %.3f at the start, %.3f at the end", first, last)
	}
	vals := 0
	for _, s := range steps {
		if s.ValLoss != nil {
			vals++
		}
	}
	if vals < 2 || math.IsNaN(sum.ValLoss) {
		t.Errorf("%d validation losses, summary %v", vals, sum.ValLoss)
	}
}

// The app's default model (site/models/MODEL_CARD.md).
const (
	defaultModelPath = "../site/models/webpeft-default-q8_0.gguf"
	defaultModelName = "webpeft-default"
)

// defaultModel opens the app's default model and its tokenizer.
func defaultModel(t *testing.T) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	b, err := os.ReadFile(defaultModelPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenGGUF(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(*m.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

// checkAdapterFiles checks the exported files ("format/name" -> bytes):
// each format parses, all three hold the same parameters, LoRA B (zero
// at the start) was trained, and the CPU reference's validation loss
// with them is the one the browser reported.
func checkAdapterFiles(t *testing.T, files map[string][]byte, valLoss float64) {
	t.Helper()
	m, tok := defaultModel(t)
	dims, info := model.PEFTDims(m.Spec), model.PEFTInfo(m.Spec)
	need := func(name string) []byte {
		b, ok := files[name]
		if !ok {
			names := []string{}
			for n := range files {
				names = append(names, n)
			}
			t.Fatalf("no %s among the exported files %v", name, names)
		}
		return b
	}
	set, params, got, err := peft.ReadNative(need("native/"+peft.ConfigFile), need("native/"+peft.TensorsFile), &dims)
	if err != nil {
		t.Fatalf("the native export: %v", err)
	}
	if got == nil || got.Name != info.Name {
		t.Errorf("the native export records model %+v, want %q", got, info.Name)
	}
	c, ok := set.Config(peft.LoRA)
	if !ok || c.Rank != 8 || strings.Join(c.Targets, ",") != strings.Join(appTargets, ",") {
		t.Errorf("the exported set is %+v", set.Configs)
	}
	_, hfParams, err := peft.ImportPEFT(need("peft/"+peft.ConfigFile), need("peft/"+peft.TensorsFile), dims, info)
	if err != nil {
		t.Fatalf("the Hugging Face PEFT export: %v", err)
	}
	gg := need("peft/" + peft.ConfigFile)
	if !bytes.Contains(gg, []byte(`"peft_type": "LORA"`)) {
		t.Errorf("adapter_config.json: %s", gg)
	}
	ggufFile := need("gguf/adapter.gguf")
	_, ggParams, err := peft.ImportGGUF(bytes.NewReader(ggufFile), int64(len(ggufFile)), dims, info)
	if err != nil {
		t.Fatalf("the GGUF export: %v", err)
	}
	for name, other := range map[string][]float32{"peft": hfParams, "gguf": ggParams} {
		worst := 0.0
		for i := range params {
			worst = max(worst, math.Abs(float64(params[i]-other[i])))
		}
		if len(other) != len(params) || worst > 1e-6 {
			t.Errorf("the %s export holds other parameters than the native one (%d vs %d values, max diff %g)", name, len(other), len(params), worst)
		}
	}
	trained := 0.0
	for _, tn := range set.Tensors {
		if strings.HasSuffix(tn.Name, ".b") {
			for _, x := range params[tn.Off : tn.Off+tn.Len] {
				trained = max(trained, math.Abs(float64(x)))
			}
		}
	}
	if trained == 0 {
		t.Error("every LoRA B is zero: the exported adapter is untrained")
	}
	// The validation loss of the exported parameters, on the CPU.
	ref, err := model.LoadReference(m)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := train.Load(strings.NewReader(appData), "data.txt", train.Codec{Tok: tok, Vocab: m.Vocab}, train.DataOptions{Seq: appSeq})
	if err != nil {
		t.Fatal(err)
	}
	_, val := train.Split(ex, 0.1, appSeed)
	p64 := make([]float64, len(params))
	for i, x := range params {
		p64[i] = float64(x)
	}
	sum, count := 0.0, 0
	for _, b := range train.Batches(val, 1, appSeq) {
		n := 0
		for _, x := range b.Targets {
			if x >= 0 {
				n++
			}
		}
		l, err := ref.PEFTLoss(set, p64, model.PEFTBatch{B: 1, T: appSeq, Tokens: b.Tokens, Targets: b.Targets}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum += l * float64(n)
		count += n
	}
	cpu := sum / float64(count)
	t.Logf("validation loss with the exported adapter: %.5f on the CPU, %.5f in the browser", cpu, valLoss)
	if math.Abs(cpu-valLoss) > 1e-3*max(1, math.Abs(cpu)) {
		t.Errorf("the exported adapter's validation loss is %.5f on the CPU reference, the browser reported %.5f", cpu, valLoss)
	}
}
