package model

import (
	"fmt"
	"math"

	"webpeft/engine/gpu"
	"webpeft/engine/ops"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// Cases lists the whole-model GPU checks against the CPU reference on tiny
// seeded random models; the same list runs natively (go test) and in the
// browser (wasm). report, when set, receives each case's measured figures.
// short swaps the 64-token KV-cache checks for 8-token ones (a software
// adapter in the browser takes minutes for the long ones).
func Cases(report func(name, figures string), short bool) []ops.Case {
	if report == nil {
		report = func(string, string) {}
	}
	var cases []ops.Case
	for _, arch := range Archs {
		for _, typ := range []tensor.Type{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0, tensor.Q4_K} {
			name := fmt.Sprintf("model/%s-%v", arch, typ)
			cfg := tinyConfig(arch, typ)
			cases = append(cases, ops.Case{Name: name, Run: func(d *gpu.Device) error {
				fig, err := CheckLogits(d, cfg, tinyTokens(cfg.Vocab, 11))
				report(name, fig)
				return err
			}})
		}
	}
	for _, arch := range Archs {
		n := 64
		if short {
			n = 8
		}
		{
			name := fmt.Sprintf("model/%s-kv-cache-%d", arch, n)
			cfg := tinyConfig(arch, tensor.Q8_0)
			cases = append(cases, ops.Case{Name: name, Run: func(d *gpu.Device) error {
				fig, err := CheckCache(d, cfg, tinyTokens(cfg.Vocab, 5), n)
				report(name, fig)
				return err
			}})
		}
	}
	for _, arch := range Archs {
		name := fmt.Sprintf("peft/identity-%s", arch)
		cfg := tinyConfig(arch, tensor.Q8_0)
		cases = append(cases, ops.Case{Name: name, Run: func(d *gpu.Device) error {
			fig, err := CheckIdentity(d, cfg, tinyTokens(cfg.Vocab, 9))
			report(name, fig)
			return err
		}})
	}
	cases = append(cases, TrainCases(report)...)
	cases = append(cases, ops.Case{Name: "model/eval-loss", Run: func(d *gpu.Device) error {
		cfg := tinyConfig(Qwen2, tensor.Q8_0)
		fig, err := CheckEval(d, cfg, tinyTokens(cfg.Vocab, 40), 24)
		report("model/eval-loss", fig)
		return err
	}})
	return cases
}

// TinyConfig is the tiny random model of the whole-model checks (see
// tinyConfig), for other packages' checks.
func TinyConfig(arch Arch, typ tensor.Type) RandomConfig { return tinyConfig(arch, typ) }

// tinyConfig is a 2-layer model with grouped-query attention (gpt2: plain
// multi-head), a vocabulary that is not a multiple of 256 (so the LM head
// runs in two chunks of 256 and 44 rows) and rows of 256 (whole Q4_K
// blocks).
func tinyConfig(arch Arch, typ tensor.Type) RandomConfig {
	c := RandomConfig{Arch: arch, Vocab: 300, Hidden: 256, FFN: 512, Layers: 2, Heads: 4, KVHeads: 2,
		Context: 128, Type: typ, Seed: 7, Tied: arch != Llama}
	if arch == GPT2 {
		c.KVHeads = 4
	}
	return c
}

// tinyTokens returns n seeded token ids below V.
func tinyTokens(V, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (i*131 + 17) % V
	}
	return ids
}

// logitsTol is the acceptance bound: max |diff| <= 1e-4 * max |logit|.
const logitsTol = 1e-4

// CheckLogits runs tokens through a random model on the GPU (all
// positions, the token embedding and the LM head split into 256-row chunks
// as a table larger than a storage binding is) and through the CPU
// reference, and
// returns the figures and an error when max |diff| > 1e-4 * max |logit|.
func CheckLogits(d *gpu.Device, cfg RandomConfig, tokens []int) (string, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return "", err
	}
	want, err := ReferenceLogits(m, tokens)
	if err != nil {
		return "", err
	}
	g, err := LoadGPU(d, m, LoadOptions{HeadChunk: 256, EmbedChunk: 256})
	if err != nil {
		return "", err
	}
	defer g.Free()
	got, err := g.Logits(tokens, true)
	if err != nil {
		return "", err
	}
	return compareLogits(got, want)
}

// compareLogits returns "max |diff| D, max |logit| L, ratio R" and an
// error when R > logitsTol or a value is not finite.
func compareLogits(got, want [][]float32) (string, error) {
	if len(got) != len(want) {
		return "", fmt.Errorf("%d rows of logits, want %d", len(got), len(want))
	}
	var maxDiff, maxLogit float64
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return "", fmt.Errorf("row %d: %d logits, want %d", i, len(got[i]), len(want[i]))
		}
		for j, w := range want[i] {
			maxLogit = math.Max(maxLogit, math.Abs(float64(w)))
			d := math.Abs(float64(got[i][j]) - float64(w))
			if math.IsNaN(d) || d > maxDiff {
				maxDiff = d
			}
		}
	}
	ratio := maxDiff / maxLogit
	fig := fmt.Sprintf("max |diff| %.3g, max |logit| %.3g, ratio %.3g", maxDiff, maxLogit, ratio)
	if !(ratio <= logitsTol) {
		return fig, fmt.Errorf("logits differ from the reference: %s > %g", fig, logitsTol)
	}
	return fig, nil
}

// Logits runs tokens (one sequence at positions 0..T-1) and returns the
// logits of every position (all) or of the last one.
func (g *GPU) Logits(tokens []int, all bool) ([][]float32, error) {
	return g.AdapterLogits(tokens, all, nil)
}

// AdapterLogits is Logits with adapter ad applied (nil: none); rows of
// its prompt-tuning tokens are not returned.
func (g *GPU) AdapterLogits(tokens []int, all bool, ad *Adapter) ([][]float32, error) {
	P, V := ad.prefix(), ad.virtual()
	if n := P + V + len(tokens); n > g.MaxPositions() {
		return nil, fmt.Errorf("model: %d tokens (with %d adapter tokens) are more than the %d positions this engine runs for %s", n, P+V, g.MaxPositions(), g.Spec.Name)
	}
	c, err := g.NewCache(1, P+V+len(tokens))
	if err != nil {
		return nil, err
	}
	defer c.Free()
	out := LastLogits
	if all {
		out = AllLogits
	}
	p, err := g.NewAdapterProgram(c, V+len(tokens), out, ad, true)
	if err != nil {
		return nil, err
	}
	defer p.Free()
	if err := p.Run(tokens, P, nil); err != nil {
		return nil, err
	}
	rows, err := p.Logits()
	if all && err == nil {
		rows = rows[V:]
	}
	return rows, err
}

// CheckCache generates n tokens greedily after prompt with the KV cache
// and, at every step, recomputes the whole sequence without a cache: each
// step's logits must be within the tolerance of CheckLogits of the
// recomputed ones, and the token the same wherever the top two logits are
// more than ten times that tolerance apart.
func CheckCache(d *gpu.Device, cfg RandomConfig, prompt []int, n int) (string, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return "", err
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		return "", err
	}
	defer g.Free()
	gen, err := g.NewGenerator(len(prompt) + n + 1)
	if err != nil {
		return "", err
	}
	defer gen.Free()
	worst, checked, context := 0.0, 0, append([]int(nil), prompt...)
	var stepErr error
	check := func(step *Program) error {
		rows, err := step.Logits()
		if err != nil {
			return err
		}
		full, err := g.Logits(context, false)
		if err != nil {
			return err
		}
		ratio, err := stepAgrees(rows[0], full[0], argmax(rows[0]))
		worst, checked = math.Max(worst, ratio), checked+1
		return err
	}
	gen.observe = func(p *Program) {
		if stepErr == nil {
			stepErr = check(p)
		}
	}
	out, err := gen.Tokens(prompt, GenerateOptions{MaxTokens: n}, func(id int) (bool, error) {
		context = append(context, id)
		return stepErr != nil, stepErr
	})
	fig := fmt.Sprintf("%d tokens, %d steps checked; worst step max |diff| / max |logit| %.3g", len(out), checked, worst)
	if err == nil && (len(out) != n || checked != n) {
		err = fmt.Errorf("generated %d tokens and checked %d steps, want %d", len(out), checked, n)
	}
	return fig, err
}

// stepAgrees compares a cached step's logits with the recomputed ones and
// checks that the cached step's token (id) is the recomputed argmax where
// that argmax is clear by more than ten times the tolerance.
func stepAgrees(step, full []float32, id int) (float64, error) {
	fig, err := compareLogits([][]float32{step}, [][]float32{full})
	if err != nil {
		return math.Inf(1), err
	}
	var maxLogit, maxDiff float64
	for j := range full {
		maxLogit = math.Max(maxLogit, math.Abs(float64(full[j])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(step[j]-full[j])))
	}
	best, second := topTwo(full)
	if float64(full[best]-full[second]) > 10*logitsTol*maxLogit && id != best {
		return maxDiff / maxLogit, fmt.Errorf("cached step chose %d, recomputation %d (gap %g; %s)", id, best, full[best]-full[second], fig)
	}
	return maxDiff / maxLogit, nil
}

func topTwo(v []float32) (best, second int) {
	best, second = 0, -1
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] > v[best]:
			best, second = i, best
		case second < 0 || v[i] > v[second]:
			second = i
		}
	}
	return best, second
}

// CheckEval compares Eval's mean loss over windows (tokens split in two
// windows) with the reference logits' cross-entropy in float64.
func CheckEval(d *gpu.Device, cfg RandomConfig, tokens []int, window int) (string, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return "", err
	}
	g, err := LoadGPU(d, m, LoadOptions{HeadChunk: 256, EmbedChunk: 256})
	if err != nil {
		return "", err
	}
	defer g.Free()
	got, err := g.Eval(tokens, window, nil)
	if err != nil {
		return "", err
	}
	var sum float64
	count := 0
	for start := 0; start+1 < len(tokens); start += window {
		n := min(window, len(tokens)-1-start)
		rows, err := ReferenceLogits(m, tokens[start:start+n])
		if err != nil {
			return "", err
		}
		for i, row := range rows {
			sum += crossEntropy64(row, tokens[start+i+1])
			count++
		}
	}
	want := sum / float64(count)
	fig := fmt.Sprintf("loss %.6f over %d tokens, reference %.6f, |diff| %.2g", got.Loss, got.Tokens, want, math.Abs(got.Loss-want))
	if got.Tokens != count || !(math.Abs(got.Loss-want) <= 1e-5*math.Max(1, want)) {
		return fig, fmt.Errorf("eval differs from the reference: %s", fig)
	}
	return fig, nil
}

// crossEntropy64 is -log softmax(row)[target] in float64.
func crossEntropy64(row []float32, target int) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s) - float64(row[target])
}

// CheckIdentity: a fresh LoRA (B = 0) on every module, fresh IA3 (ones)
// and fresh houlsby adapters (zero up-projection) leave the GPU logits
// bit-identical to the base model's.
func CheckIdentity(d *gpu.Device, cfg RandomConfig, tokens []int) (string, error) {
	m, _, err := RandomModel(cfg)
	if err != nil {
		return "", err
	}
	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		return "", err
	}
	defer g.Free()
	base, err := g.Logits(tokens, true)
	if err != nil {
		return "", err
	}
	var names []string
	for _, c := range []peft.Config{
		{Method: peft.LoRA, Targets: peft.AllModules(PEFTDims(m.Spec))}, {Method: peft.IA3}, {Method: peft.Adapter, AdapterType: "houlsby"},
	} {
		set, err := peft.NewSet(PEFTDims(m.Spec), c)
		if err != nil {
			return "", err
		}
		ad, err := g.NewAdapter(set, set.Init(1))
		if err != nil {
			return "", err
		}
		got, err := g.AdapterLogits(tokens, true, ad)
		ad.Free()
		if err != nil {
			return "", err
		}
		for i := range base {
			for j := range base[i] {
				if got[i][j] != base[i][j] {
					return "", fmt.Errorf("fresh %s: logit [%d][%d] is %v, the base model's %v", c.Method, i, j, got[i][j], base[i][j])
				}
			}
		}
		names = append(names, c.Method)
	}
	return fmt.Sprintf("%v: %d x %d logits bit-identical to the base model", names, len(base), len(base[0])), nil
}
