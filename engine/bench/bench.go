// Package bench is webpeft's standard benchmark set: one run on the
// current adapter gives one Result (one JSON object) with the adapter's
// peak FMA rate, the anchor matmul (the yardstick, measured in the same
// run), the engine's f32, Q8_0 and Q4_0 matmuls, an MLP-block training
// step, and the forward and training throughput of a SmolLM2-135M-shaped
// Q8_0 model. The same code runs natively (`webpeft bench`) and in the
// browser (bench.html, through the wasm).
package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"webpeft/engine/gpu"
	"webpeft/engine/model"
	"webpeft/engine/ops"
	"webpeft/engine/tensor"
)

// Shape is a matmul's (M, K, N): y (M, N) from x (M, K) and a K x N weight.
type Shape struct{ M, K, N int }

// Key is the shape's name in a Result: "MxKxN".
func (s Shape) Key() string { return fmt.Sprintf("%dx%dx%d", s.M, s.K, s.N) }

// Shapes are the matmul shapes: a square 1024^3 and a SmolLM2-135M MLP
// up-projection (hidden 576 to 1536) over 256 tokens; Quick uses tiny ones.
func Shapes(quick bool) []Shape {
	if quick {
		return []Shape{{64, 64, 64}, {32, 64, 96}}
	}
	return []Shape{{1024, 1024, 1024}, {256, 576, 1536}}
}

// MLPShape is the MLP block's (M, K, N): x (M, K) -> dense N -> GELU ->
// dense K.
func MLPShape(quick bool) Shape {
	if quick {
		return Shape{32, 64, 96}
	}
	return Shape{256, 576, 1536}
}

// Options tune a run.
type Options struct {
	// Quick runs tiny shapes and a tiny model (seconds, for tests).
	Quick bool
	// MinTime is the least time each kernel measurement runs (default 1 s;
	// Quick: 50 ms).
	MinTime time.Duration
	// OnStart, when set, is told the name of each measurement as it starts,
	// and OnBench each kernel figure as it is measured.
	OnStart func(name string)
	OnBench func(name string, gflops float64)
	// MoreShapes are matmul shapes measured besides the standard two (a
	// big GPU needs e.g. 4096^3 to fill it).
	MoreShapes []Shape
}

// Result is the standard set's JSON object. GFLOP/s maps are keyed by
// Shape.Key ("MxKxN").
type Result struct {
	Adapter  string `json:"adapter"`
	Backend  string `json:"backend"`
	Software bool   `json:"software_adapter"` // lavapipe, SwiftShader: gpu.AdapterInfo.IsCPU
	Quick    bool   `json:"quick"`

	PeakGFLOPS   float64            `json:"peak_gflops"` // fma_peak: independent vec4 FMA chains
	AnchorGFLOPS map[string]float64 `json:"anchor_matmul_gflops"`
	F32GFLOPS    map[string]float64 `json:"matmul_f32_gflops"` // the best variant's
	F32Variant   string             `json:"matmul_f32_variant"`
	// F32Variants holds every measured variant, by name then shape.
	F32Variants map[string]map[string]float64 `json:"matmul_f32_variants_gflops"`
	Q8GFLOPS    map[string]float64            `json:"matmul_q8_0_gflops"`
	Q4GFLOPS    map[string]float64            `json:"matmul_q4_0_gflops"`
	// MLP block training step (forward, GELU, mean-square loss, both
	// weight gradients, one submit), keyed by its MxKxN.
	MLPGFLOPS map[string]float64 `json:"mlp_block_train_gflops"`
	MLPStepMS map[string]float64 `json:"mlp_block_train_ms"`
	// VsAnchor divides each matmul figure by the anchor's at the same
	// shape, measured in this run: "matmul_f32/1024x1024x1024": 1.4.
	VsAnchor map[string]float64 `json:"vs_anchor"`

	Model            string  `json:"model"` // SmolLM2-135M-shaped Q8_0 (Quick: a tiny one)
	PrefillTokens    int     `json:"prefill_tokens"`
	PrefillTokS      float64 `json:"prefill_tokens_per_s"`
	DecodeTokens     int     `json:"decode_tokens"`
	DecodeTokS       float64 `json:"decode_tokens_per_s"`
	Train            string  `json:"train"` // the PEFT set
	TrainBatch       int     `json:"train_batch"`
	TrainSeq         int     `json:"train_seq"`
	TrainTokS        float64 `json:"train_tokens_per_s"`
	TrainMatmulFrac  float64 `json:"train_matmul_time_fraction"`
	TrainMatmulHow   string  `json:"train_matmul_time_method"`
	PeakGPUBytes     uint64  `json:"peak_gpu_bytes"` // the larger of the forward and training benchmarks' own peaks
	DispatchesPerStp int     `json:"dispatches_per_step"`
	SubmitsPerStep   int     `json:"submits_per_step"`
	OpsPerStep       int     `json:"ops_per_step"` // dispatches and copies recorded in the step's one command encoder

	Seconds float64 `json:"elapsed_s"`
}

// MatmulFamily reports whether a kernel file is one of the matmul
// families a training step's matmul time fraction counts: the frozen
// weights' forward and input-gradient products (matmul_*), the LoRA
// products (gemm_*) and the LM head, whose products are fused with the
// softmax statistics (vocab_*). Attention is not counted.
func MatmulFamily(kernel string) bool {
	return strings.HasPrefix(kernel, "matmul_") || strings.HasPrefix(kernel, "gemm_") || strings.HasPrefix(kernel, "vocab_")
}

// matmulMethod documents train_matmul_time_fraction.
const matmulMethod = "1 - t(step without matmul_*, gemm_*, vocab_* dispatches) / t(whole step); both replay the recorded step program (one submit, one wait), alternately, fastest of each"

// tinyModel is Quick's model: the SmolLM2 layout at toy size.
func tinyModel() model.RandomConfig {
	return model.RandomConfig{Arch: model.Llama, Vocab: 256, Hidden: 64, FFN: 128, Layers: 2, Heads: 4, KVHeads: 2,
		Context: 256, Tied: true, Type: tensor.Q8_0, Seed: 135}
}

// Run measures the standard set on d.
func Run(d *gpu.Device, o Options) (Result, error) {
	start := time.Now()
	if o.MinTime == 0 {
		o.MinTime = time.Second
		if o.Quick {
			o.MinTime = 50 * time.Millisecond
		}
	}
	started := func(name string) {
		if o.OnStart != nil {
			o.OnStart(name)
		}
	}
	r := Result{Adapter: d.Info.Name, Backend: d.Info.Backend, Software: d.Info.IsCPU(), Quick: o.Quick,
		AnchorGFLOPS: map[string]float64{}, F32GFLOPS: map[string]float64{}, F32Variants: map[string]map[string]float64{},
		Q8GFLOPS: map[string]float64{}, Q4GFLOPS: map[string]float64{}, MLPGFLOPS: map[string]float64{},
		MLPStepMS: map[string]float64{}, VsAnchor: map[string]float64{}, TrainMatmulHow: matmulMethod}
	measure := func(b ops.Bench) (float64, error) {
		started(b.Name)
		g, err := ops.Measure(d, b, o.MinTime)
		if err != nil {
			return 0, err
		}
		if o.OnBench != nil {
			o.OnBench(b.Name, g)
		}
		return g, nil
	}
	var err error
	if r.PeakGFLOPS, err = measure(ops.PeakBench()); err != nil {
		return r, err
	}
	shapes := append(Shapes(o.Quick), o.MoreShapes...)
	for _, s := range shapes {
		if r.AnchorGFLOPS[s.Key()], err = measure(ops.AnchorBench(s.M, s.K, s.N)); err != nil {
			return r, err
		}
	}
	// f32: every variant but naive; the best is the one with the highest
	// total over the shapes.
	best := -1.0
	for _, v := range ops.F32Variants() {
		m := map[string]float64{}
		total := 0.0
		for _, s := range shapes {
			g, err := measure(ops.F32MatMulBench(v, s.M, s.K, s.N))
			if err != nil {
				return r, err
			}
			m[s.Key()] = g
			total += g
		}
		r.F32Variants[v.String()] = m
		if total > best {
			best, r.F32GFLOPS, r.F32Variant = total, m, v.String()
		}
	}
	for _, q := range []struct {
		t   tensor.QuantType
		out map[string]float64
	}{{tensor.Q8_0, r.Q8GFLOPS}, {tensor.Q4_0, r.Q4GFLOPS}} {
		for _, s := range shapes {
			if q.out[s.Key()], err = measure(ops.QuantMatMulBench(q.t, s.M, s.K, s.N)); err != nil {
				return r, err
			}
		}
	}
	ms := MLPShape(o.Quick)
	mb := ops.MLPBlockBench(ms.M, ms.K, ms.N)
	g, err := measure(mb)
	if err != nil {
		return r, err
	}
	r.MLPGFLOPS[ms.Key()], r.MLPStepMS[ms.Key()] = g, mb.Flops/g/1e6
	for _, s := range shapes {
		a := r.AnchorGFLOPS[s.Key()]
		if a <= 0 {
			continue
		}
		r.VsAnchor["matmul_f32/"+s.Key()] = r.F32GFLOPS[s.Key()] / a
		r.VsAnchor["matmul_q8_0/"+s.Key()] = r.Q8GFLOPS[s.Key()] / a
		r.VsAnchor["matmul_q4_0/"+s.Key()] = r.Q4GFLOPS[s.Key()] / a
	}
	if a := r.AnchorGFLOPS[ms.Key()]; a > 0 {
		r.VsAnchor["mlp_block_train/"+ms.Key()] = r.MLPGFLOPS[ms.Key()] / a
	}

	// The model: forward (prefill, then decode with the KV cache) and LoRA
	// r=8 on q,v training steps.
	cfg, prefill, decode := model.SmolLM2Shape(tensor.Q8_0), 256, 8
	B, T, steps, reps := 4, 256, 2, 2
	if r.Software {
		// A 256 x 4 step takes minutes on a software adapter, and a 1 x 128
		// one up to a few minutes in a browser on SwiftShader.
		B, T, steps, reps = 1, 128, 1, 1
	}
	r.Model = "smollm2-135m-shape Q8_0"
	if o.Quick {
		cfg, prefill, decode = tinyModel(), 16, 4
		B, T, steps, reps = 1, 16, 1, 1
		r.Model = "tiny llama Q8_0 (quick)"
	}
	started("forward/" + r.Model)
	live := d.Stats().LiveBytes
	fw, err := model.BenchForward(d, cfg, prefill, decode)
	if err != nil {
		return r, fmt.Errorf("forward: %w", err)
	}
	r.PrefillTokens, r.PrefillTokS, r.DecodeTokens, r.DecodeTokS = prefill, fw.PrefillTokS, decode, fw.DecodeTokS
	r.PeakGPUBytes = fw.PeakBytes - min(live, fw.PeakBytes)
	set := model.TrainBenchSets()[0] // lora-r8-qv
	r.Train, r.TrainBatch, r.TrainSeq = set.Name, B, T
	started(fmt.Sprintf("train/%s %dx%d", set.Name, B, T))
	live = d.Stats().LiveBytes
	tp, err := model.BenchTrainProfile(d, cfg, set.Make, B, T, steps, reps, MatmulFamily)
	if err != nil {
		return r, fmt.Errorf("train: %w", err)
	}
	r.TrainTokS, r.TrainMatmulFrac = tp.TokensPerS, tp.MatmulTimeFraction
	r.DispatchesPerStp, r.SubmitsPerStep, r.OpsPerStep = tp.DispatchesPerStep, tp.SubmitsPerStep, tp.Ops
	r.PeakGPUBytes = max(r.PeakGPUBytes, tp.PeakBytes-min(live, tp.PeakBytes))
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// WriteTable writes r as a readable table.
func (r Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "adapter: %s (%s%s)\n", r.Adapter, r.Backend, map[bool]string{true: ", software", false: ""}[r.Software])
	fmt.Fprintf(w, "%-34s %12s %9s %10s\n", "kernel / shape (MxKxN)", "GFLOP/s", "of peak", "vs anchor")
	row := func(name string, g, anchor float64) {
		of, vs := "", ""
		if r.PeakGFLOPS > 0 {
			of = fmt.Sprintf("%.1f%%", 100*g/r.PeakGFLOPS)
		}
		if anchor > 0 {
			vs = fmt.Sprintf("%.2fx", g/anchor)
		}
		fmt.Fprintf(w, "%-34s %12.3f %9s %10s\n", name, g, of, vs)
	}
	row("fma_peak", r.PeakGFLOPS, 0)
	for _, k := range keys(r.AnchorGFLOPS) {
		row("anchor_matmul/"+k, r.AnchorGFLOPS[k], r.AnchorGFLOPS[k])
	}
	for _, v := range keys(r.F32Variants) {
		for _, k := range keys(r.F32Variants[v]) {
			name := "matmul_f32_" + v + "/" + k
			if v == r.F32Variant {
				name += " *"
			}
			row(name, r.F32Variants[v][k], r.AnchorGFLOPS[k])
		}
	}
	for _, k := range keys(r.Q8GFLOPS) {
		row("matmul_q8_0/"+k, r.Q8GFLOPS[k], r.AnchorGFLOPS[k])
	}
	for _, k := range keys(r.Q4GFLOPS) {
		row("matmul_q4_0/"+k, r.Q4GFLOPS[k], r.AnchorGFLOPS[k])
	}
	for _, k := range keys(r.MLPGFLOPS) {
		row("mlp_block_train/"+k, r.MLPGFLOPS[k], r.AnchorGFLOPS[k])
		fmt.Fprintf(w, "%-34s %12.2f ms per step\n", "", r.MLPStepMS[k])
	}
	fmt.Fprintf(w, "(* the best f32 variant: %s)\n\n", r.F32Variant)
	fmt.Fprintf(w, "model: %s\n", r.Model)
	fmt.Fprintf(w, "  prefill %d tokens     %10.2f tokens/s\n", r.PrefillTokens, r.PrefillTokS)
	fmt.Fprintf(w, "  decode %d tokens       %10.2f tokens/s\n", r.DecodeTokens, r.DecodeTokS)
	fmt.Fprintf(w, "  train %s %dx%d %8.2f tokens/s, matmul %.0f%% of the step\n", r.Train, r.TrainBatch, r.TrainSeq,
		r.TrainTokS, 100*r.TrainMatmulFrac)
	fmt.Fprintf(w, "  step: %d dispatches, %d submits; peak GPU memory %.1f MiB\n", r.DispatchesPerStp, r.SubmitsPerStep,
		float64(r.PeakGPUBytes)/(1<<20))
	fmt.Fprintf(w, "elapsed %.1f s\n", r.Seconds)
}

// keys returns m's keys, larger shapes first ("1024x..." before "256x...").
func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if len(ks[i]) != len(ks[j]) {
			return len(ks[i]) > len(ks[j])
		}
		return ks[i] < ks[j]
	})
	return ks
}
