//go:build !js

package serve_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkBrowserSuite runs bench.html (the standard set, engine/bench,
// through the wasm on SwiftShader) and logs its result, the same JSON
// object `webpeft bench --json` prints natively, read from
// window.webpeftBench:
//
//	go test ./serve -run '^$' -bench BrowserSuite -benchtime 1x -timeout 80m -v
//
// WEBPEFT_BENCH_QUICK=1 runs bench.html?quick=1 (tiny shapes and model).
func BenchmarkBrowserSuite(b *testing.B) {
	page := "bench.html"
	if os.Getenv("WEBPEFT_BENCH_QUICK") == "1" {
		page += "?quick=1"
	}
	bctx, siteURL := browser(b)
	tab, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(tab, 80*time.Minute)
	defer cancelTimeout()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(siteURL+"/"+page)); err != nil {
		b.Fatalf("opening %s: %v", page, err)
	}
	// The page's state and, once done, its result (runPageIn closes its tab).
	const read = `(() => { const s = window.webpeftRun; if (!s) return "";
	  return JSON.stringify({done: s.done, error: s.error, current: s.current, device: s.device,
	    idleMs: Date.now() - s.lastEventAt, result: window.webpeftBench}); })()`
	var st struct {
		Done    bool           `json:"done"`
		Error   string         `json:"error"`
		Current string         `json:"current"`
		Device  string         `json:"device"`
		IdleMS  int64          `json:"idleMs"`
		Result  map[string]any `json:"result"`
	}
	start := time.Now()
	for {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](read))
		if err == nil && raw != "" {
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				b.Fatalf("reading the page's state: %v", err)
			}
			if st.Done {
				break
			}
			if time.Duration(st.IdleMS)*time.Millisecond > benchStallAfter {
				b.Fatalf("bench.html stalled in %q", st.Current)
			}
		}
		if time.Since(start) > 75*time.Minute {
			b.Fatalf("bench.html did not finish (in %q)", st.Current)
		}
		time.Sleep(time.Second)
	}
	if st.Error != "" {
		b.Fatalf("bench.html reported: %s", st.Error)
	}
	r := st.Result
	if r == nil {
		b.Fatal("bench.html finished without window.webpeftBench")
	}
	pretty, _ := json.MarshalIndent(r, "", "  ")
	b.Logf("adapter: %s\nbench.html result:\n%s", st.Device, pretty)
	for _, k := range []string{"peak_gflops", "prefill_tokens_per_s", "decode_tokens_per_s", "train_tokens_per_s",
		"train_matmul_time_fraction"} {
		if v, ok := r[k].(float64); ok {
			b.ReportMetric(v, k)
		}
	}
}
