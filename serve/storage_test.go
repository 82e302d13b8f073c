//go:build !js

package serve_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"
	"time"
)

// The app's storage in the browser's Origin Private File System: training
// runs checkpointed and resumed after a reload, the model cache
// (resumable downloads, listing, deleting, offline reuse), Hugging Face
// model ids and folders.

// storeState is the part of window.webpeftApp these tests read.
type storeState struct {
	appState
	ResumedFrom    int   `json:"resumedFrom"`
	Checkpoints    []int `json:"checkpoints"`
	LastCheckpoint int   `json:"lastCheckpoint"`
	Resume         *struct {
		ID    string `json:"id"`
		Step  int    `json:"step"`
		Steps int    `json:"steps"`
	} `json:"resume"`
	Cache []struct {
		Key      string `json:"key"`
		Kind     string `json:"kind"`
		Source   string `json:"source"`
		Name     string `json:"name"`
		Bytes    int64  `json:"bytes"`
		Complete bool   `json:"complete"`
	} `json:"cache"`
	Storage *struct {
		Usage     float64 `json:"usage"`
		Quota     float64 `json:"quota"`
		Persisted bool    `json:"persisted"`
	} `json:"storage"`
}

func waitStore(t *testing.T, ctx context.Context, what string, budget time.Duration, done func(storeState) bool) storeState {
	t.Helper()
	return waitFor(t, ctx, what, readApp, budget, func(s storeState) bool {
		if s.Error != "" {
			t.Fatalf("%s: the page shows the error %q", what, s.Error)
		}
		return done(s)
	})
}

// TestBrowserAppCheckpoint trains in the app with a checkpoint every 5
// steps, reloads the page mid-training, and checks that the app finds
// the unfinished run, loads its model, resumes from its last checkpoint
// (no step lost beyond the checkpoint interval), recomputes the steps
// after it exactly, and ends with one continuous loss curve. It runs on
// an origin of its own (127.0.0.3), so that its stored run stays away
// from the other tests' pages. It also logs the time to the first
// trained step of the default model from a cold page.
func TestBrowserAppCheckpoint(t *testing.T) {
	const (
		budget = 12 * time.Minute
		steps  = 24
		every  = 5
		reload = 12 // reload once this step is seen
	)
	ctx, base, cancel := openTab(t, budget)
	defer cancel()
	origin := nthOrigin(base, 3)
	t0 := time.Now()
	openApp(t, ctx, origin)
	waitApp(t, ctx, "the engine to start", 2*time.Minute, func(s appState) bool { return s.Ready && s.Busy == "" })
	tReady := time.Since(t0)
	prepareApp(t, ctx, steps)
	tLoaded := time.Since(t0)
	setField(t, ctx, "checkpoint-every", every)
	click(t, ctx, "train")
	waitStore(t, ctx, "the first step", 4*time.Minute, func(s storeState) bool { return s.Training != nil })
	tFirst := time.Since(t0)
	raw, gz := wasmSizes(t, base)
	t.Logf("main.wasm: %d bytes (%.2f MiB), %d bytes (%.2f MiB) as the server sends it gzipped", raw, float64(raw)/(1<<20), gz, float64(gz)/(1<<20))
	t.Logf("time to the first trained step of the default model (webpeft-default, LoRA, seq %d) from opening the page: %.1f s "+
		"(engine started %.1f s, model loaded and data counted %.1f s); headless Chromium, SwiftShader, a loaded 2-core machine",
		appSeq, tFirst.Seconds(), tReady.Seconds(), tLoaded.Seconds())

	before := waitStore(t, ctx, fmt.Sprintf("training to reach step %d", reload), 5*time.Minute, func(s storeState) bool {
		return s.Training != nil && s.Training.Step >= reload
	})
	seen := before.Training.Step
	t.Logf("reloading the page after step %d (checkpoints so far: %v)", seen, before.Checkpoints)
	if len(before.Checkpoints) == 0 || before.Checkpoints[0] != every {
		t.Errorf("checkpoints before the reload: %v, want every %d steps", before.Checkpoints, every)
	}
	openApp(t, ctx, origin) // the reload: the old page and its worker go
	st := waitStore(t, ctx, "the run to resume", 4*time.Minute, func(s storeState) bool { return s.Training != nil && s.ResumedFrom > 0 })
	from := st.ResumedFrom
	t.Logf("resumed from the checkpoint of step %d; first step after it: %d", from, st.Losses[len(st.Losses)-1].Step)
	if from%every != 0 || seen-from >= every || from > seen {
		t.Errorf("reloaded after step %d, resumed from step %d: more than the checkpoint interval (%d) lost", seen, from, every)
	}
	end := waitStore(t, ctx, "the resumed run to end", 6*time.Minute, func(s storeState) bool { return s.Summary != nil && s.Busy == "" })
	if end.Summary.Steps != steps || end.Summary.Stopped {
		t.Fatalf("the resumed run ended with %+v", *end.Summary)
	}
	// One continuous curve: steps 1..steps, each once.
	if len(end.Losses) != steps {
		t.Fatalf("the loss curve has %d points, want %d", len(end.Losses), steps)
	}
	for i, p := range end.Losses {
		if p.Step != i+1 || math.IsNaN(p.Loss) {
			t.Fatalf("the loss curve's point %d is step %d (loss %v): not continuous", i, p.Step, p.Loss)
		}
	}
	// Before the checkpoint the curve is the one drawn before the reload;
	// after it, the resumed run recomputes the same losses (an exact
	// resume: parameters, AdamW moments, data position).
	for _, p := range before.Losses {
		got := end.Losses[p.Step-1].Loss
		if math.Abs(got-p.Loss) > 1e-4*max(1, math.Abs(p.Loss)) {
			t.Errorf("step %d: loss %.6f before the reload, %.6f after it", p.Step, p.Loss, got)
		}
	}
	t.Logf("the run: %d steps, loss %.3f -> %.3f; steps %d-%d recomputed after the resume match the ones before the reload",
		steps, end.Losses[0].Loss, end.Summary.Loss, from+1, seen)
	var first, last float64
	first = (end.Losses[0].Loss + end.Losses[1].Loss) / 2
	last = (end.Losses[steps-1].Loss + end.Losses[steps-2].Loss) / 2
	if !(last < first-0.5) {
		t.Errorf("the loss did not fall across the resume: %.3f -> %.3f", first, last)
	}
	// The finished run is not resumed again.
	openApp(t, ctx, origin)
	waitApp(t, ctx, "the engine to start again", 2*time.Minute, func(s appState) bool { return s.Ready })
	time.Sleep(2 * time.Second)
	var again storeState
	if err := evalJSON(ctx, readApp, &again); err != nil {
		t.Fatal(err)
	}
	if again.Resume != nil || again.Busy != "" {
		t.Errorf("after the run ended, a new page resumes %+v (busy %q)", again.Resume, again.Busy)
	}
}

// wasmSizes fetches main.wasm from the site as it is and gzipped (as
// serve.Handler sends it to browsers) and returns both sizes.
func wasmSizes(t *testing.T, base string) (raw, gz int64) {
	t.Helper()
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest("GET", base+"/main.wasm", nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if enc == "gzip" {
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("main.wasm came with Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
			gz = n
		} else {
			raw = n
		}
	}
	return raw, gz
}
