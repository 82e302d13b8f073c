//go:build !js

package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tfjsLib is where `make bench-tfjs` installs TensorFlow.js from npm
// (node_modules of @tensorflow/tfjs and @tensorflow/tfjs-backend-webgpu);
// it is a cache, never committed or shipped with the site.
const tfjsLib = "../.cache/tfjs/node_modules"

var tfjsRoutes sync.Once

// tfjsState mirrors window.tfjsBench (serve/testdata/tfjs/bench.js).
type tfjsState struct {
	Done    bool   `json:"done"`
	Error   string `json:"error"`
	Adapter string `json:"adapter"`
	TFJS    string `json:"tfjs"`
	Current string `json:"current"`
	IdleMS  int64  `json:"idleMs"`
	Rows    []struct {
		Name   string  `json:"name"`
		GFLOPS float64 `json:"gflops"`
		MS     float64 `json:"ms"`
	} `json:"rows"`
}

// BenchmarkBrowserTFJS runs, in one headless Chromium on its SwiftShader
// WebGPU adapter, webpeft's comparison workloads through the wasm
// (bench.html?run=...: fma_peak, the anchor matmul, the f32, Q8_0 and
// Q4_0 matmuls, the MLP-block training step) and then the same f32
// workloads through TensorFlow.js's WebGPU backend (serve/testdata/tfjs),
// and reports GFLOP/s and step times side by side, with ratios to
// webpeft's anchor matmul of the same run:
//
//	make bench-tfjs   # npm install into .cache/tfjs, then this benchmark
//
// It skips when .cache/tfjs is missing.
func BenchmarkBrowserTFJS(b *testing.B) {
	if _, err := os.Stat(tfjsLib + "/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js"); err != nil {
		b.Skip("TensorFlow.js is not in .cache/tfjs: `make bench-tfjs` installs it and runs this benchmark")
	}
	tfjsRoutes.Do(func() {
		testRoutes.Handle("/test/tfjs/lib/", http.StripPrefix("/test/tfjs/lib/", http.FileServer(http.Dir(tfjsLib))))
		testRoutes.Handle("/test/tfjs/", http.StripPrefix("/test/tfjs/", http.FileServer(http.Dir("testdata/tfjs"))))
	})
	bctx, siteURL := browser(b)

	// webpeft, through the wasm.
	run := `^(anchor_matmul/|matmul_(f32_(rb|tiled)|q8_0|q4_0)/|mlp_block_train/)`
	st := runPage(b, "bench.html?run="+url.QueryEscape(run), 40*time.Minute)
	if st.Error != "" {
		b.Fatalf("bench.html reported: %s", st.Error)
	}
	wp := map[string]float64{} // by name, shapes as MxKxN
	for _, r := range st.Rows {
		if r.Error != "" {
			b.Fatalf("%s: %s", r.Name, r.Error)
		}
		wp[mxkxn(r.Name)] = r.GFLOPS
	}

	// TensorFlow.js, in a new tab of the same browser.
	tf := runTFJS(b, bctx, siteURL+"/test/tfjs/index.html", 30*time.Minute)
	if tf.Error != "" {
		b.Fatalf("the TF.js page reported: %s", tf.Error)
	}
	tfjs := map[string]float64{}
	tfms := map[string]float64{}
	for _, r := range tf.Rows {
		tfjs[r.Name], tfms[r.Name] = r.GFLOPS, r.MS
	}

	b.Logf("adapter: %s; TF.js %s (%s)", st.Device, tf.TFJS, tf.Adapter)
	var lines []string
	lines = append(lines, "| workload (MxKxN) | webpeft anchor | webpeft best f32 | TF.js | TF.js / anchor | webpeft / TF.js |",
		"|---|---|---|---|---|---|")
	lines = append(lines, fmt.Sprintf("| fma_peak | %.3f | | | | |", wp["fma_peak"]))
	for _, shape := range []string{"1024x1024x1024", "256x576x1536"} {
		anchor := wp["anchor_matmul/"+shape]
		best, variant := 0.0, ""
		for _, v := range []string{"rb", "tiled"} {
			if g := wp["matmul_f32_"+v+"/"+shape]; g > best {
				best, variant = g, v
			}
		}
		t := tfjs["tfjs_matmul/"+shape]
		lines = append(lines, fmt.Sprintf("| matmul %s | %.3f | %.3f (%s) | %.3f | %.2f | %.2f |", shape, anchor, best, variant, t, t/anchor, best/t))
		report(b, "matmul/"+shape, map[string]float64{"anchor-GFLOP/s": anchor, "webpeft-GFLOP/s": best, "tfjs-GFLOP/s": t})
	}
	mlp := "256x576x1536"
	wpMLP, tfMLP, anchor := wp["mlp_block_train/"+mlp], tfjs["tfjs_mlp_block_train/"+mlp], wp["anchor_matmul/"+mlp]
	wpMS := 0.0
	if wpMLP > 0 {
		wpMS = 10 * 256 * 576 * 1536 / wpMLP / 1e6
	}
	lines = append(lines, fmt.Sprintf("| MLP block fwd+bwd %s | %.3f | %.3f (%.1f ms/step) | %.3f (%.1f ms/step) | %.2f | %.2f |",
		mlp, anchor, wpMLP, wpMS, tfMLP, tfms["tfjs_mlp_block_train/"+mlp], tfMLP/anchor, wpMLP/tfMLP))
	report(b, "mlp_block_train/"+mlp, map[string]float64{"webpeft-GFLOP/s": wpMLP, "tfjs-GFLOP/s": tfMLP,
		"webpeft-ms/step": wpMS, "tfjs-ms/step": tfms["tfjs_mlp_block_train/"+mlp]})
	b.Log("\n" + strings.Join(lines, "\n"))
	b.Log("\n" + strings.Join(anchorTable(wp), "\n"))
}

// anchorTable is webpeft's best f32, Q8_0 and Q4_0 matmuls against the
// register-blocked anchor of the same run (issue 9's yardstick on CPU
// adapters: each at least 1.5x the anchor).
func anchorTable(wp map[string]float64) []string {
	lines := []string{"| kernel | shape (MxKxN) | GFLOP/s | anchor GFLOP/s | x anchor |", "|---|---|---|---|---|"}
	for _, kind := range []string{"f32", "q8_0", "q4_0"} {
		for _, shape := range []string{"1024x1024x1024", "256x576x1536"} {
			g, name := wp["matmul_"+kind+"/"+shape], "matmul_"+kind
			if kind == "f32" {
				g, name = max(wp["matmul_f32_rb/"+shape], wp["matmul_f32_tiled/"+shape]), "matmul_f32 (best)"
			}
			a := wp["anchor_matmul/"+shape]
			lines = append(lines, fmt.Sprintf("| %s | %s | %.3f | %.3f | %.2f |", name, shape, g, a, g/a))
		}
	}
	return lines
}

// report records metrics as a sub-benchmark's, in a stable order.
func report(b *testing.B, name string, metrics map[string]float64) {
	b.Run(name, func(b *testing.B) {
		var ks []string
		for k := range metrics {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			b.ReportMetric(metrics[k], k)
		}
	})
}

// mxkxn renames an ops.Benches() matmul (named MxNxK) by MxKxN, as the
// anchor, the MLP block and the TF.js page name their shapes.
func mxkxn(name string) string {
	if !strings.HasPrefix(name, "matmul_") {
		return name
	}
	kind, shape, _ := strings.Cut(name, "/")
	var m, n, k int
	if _, err := fmt.Sscanf(shape, "%dx%dx%d", &m, &n, &k); err != nil {
		return name
	}
	return fmt.Sprintf("%s/%dx%dx%d", kind, m, k, n)
}

// runTFJS opens the TF.js page in a new tab and waits for window.tfjsBench
// to be done.
func runTFJS(b *testing.B, bctx context.Context, page string, budget time.Duration) tfjsState {
	b.Helper()
	tab, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(tab, budget+time.Minute)
	defer cancelTimeout()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
		b.Fatalf("opening %s: %v", page, err)
	}
	const read = `(() => { const s = window.tfjsBench; return s ? JSON.stringify({...s, idleMs: Date.now() - s.lastEventAt}) : ""; })()`
	var st tfjsState
	start := time.Now()
	for {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](read))
		if err == nil && raw != "" {
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				b.Fatalf("reading the TF.js page's state: %v", err)
			}
			if st.Done {
				return st
			}
			if time.Duration(st.IdleMS)*time.Millisecond > 10*time.Minute {
				b.Fatalf("the TF.js page stalled in %q", st.Current)
			}
		}
		if time.Since(start) > budget {
			b.Fatalf("the TF.js page did not finish within %v (in %q)", budget, st.Current)
		}
		time.Sleep(time.Second)
	}
}
