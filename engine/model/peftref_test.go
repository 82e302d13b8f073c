package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// peftReference is a tiny seeded random model of arch for the PEFT
// reference's tests.
func peftReference(t *testing.T, arch Arch) *Reference {
	t.Helper()
	c := RandomConfig{Arch: arch, Vocab: 64, Hidden: 32, FFN: 64, Layers: 2, Heads: 4, KVHeads: 2,
		Context: 64, Type: tensor.F32, Seed: 5, Tied: arch != Llama}
	if arch == GPT2 {
		c.KVHeads = 4
	}
	m, _, err := RandomModel(c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadReference(m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// peftBatch is 2 sequences of 5 tokens, each predicting the next token,
// with two targets masked.
func peftBatch(V int) PEFTBatch {
	b := PEFTBatch{B: 2, T: 5}
	for i := range b.B * b.T {
		b.Tokens = append(b.Tokens, (i*37+11)%V)
		b.Targets = append(b.Targets, (i*37+48)%V)
	}
	b.Targets[2], b.Targets[9] = -1, -1
	return b
}

// peftCase is a combination of methods under test.
type peftCase struct {
	name    string
	configs []peft.Config
}

// peftCases is every method alone, both adapter types (one per
// activation), and all methods at once.
func peftCases(arch Arch) []peftCase {
	targets := slices.Clone(peft.Modules)
	if arch == GPT2 {
		targets = slices.DeleteFunc(targets, func(m string) bool { return m == "gate" })
	}
	lora := peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: targets}
	ia3 := peft.Config{Method: peft.IA3}
	prompt := peft.Config{Method: peft.Prompt, VirtualTokens: 3}
	prefix := peft.Config{Method: peft.Prefix, VirtualTokens: 4}
	projected := peft.Config{Method: peft.Prefix, VirtualTokens: 3, PrefixProjection: true, EncoderHidden: 5}
	pfeiffer := peft.Config{Method: peft.Adapter, Bottleneck: 6, AdapterType: "pfeiffer", AdapterAct: "relu"}
	houlsby := peft.Config{Method: peft.Adapter, Bottleneck: 6, AdapterType: "houlsby", AdapterAct: "gelu"}
	return []peftCase{
		{"lora", []peft.Config{lora}}, {"ia3", []peft.Config{ia3}}, {"prompt", []peft.Config{prompt}},
		{"prefix", []peft.Config{prefix}}, {"prefix-projection", []peft.Config{projected}}, {"pfeiffer", []peft.Config{pfeiffer}}, {"houlsby", []peft.Config{houlsby}},
		{"all", []peft.Config{lora, prompt, prefix, ia3, houlsby}},
	}
}

// peftParams is set's Init moved off it by normal(0, 0.2) noise, so LoRA
// B, adapters' up projections and IA3 vectors are not at their neutral
// values and every tensor has a gradient.
func peftParams(set *peft.Set, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := make([]float64, set.Size)
	init := set.Init(seed)
	for _, t := range set.Tensors {
		for i := t.Off; i < t.Off+t.Len; i++ {
			p[i] = float64(init[i]) + 0.2*rng.NormFloat64()
		}
	}
	return p
}

func newPEFTSet(t *testing.T, r *Reference, configs ...peft.Config) *peft.Set {
	t.Helper()
	set, err := peft.NewSet(PEFTDims(r.Spec), configs...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Finite differences: central, step peftFDStep; an analytic gradient g
// passes when |fd - g| <= peftFDAbs + peftFDRel * |g|. In float64 the
// truncation error (h^2) and the rounding error (1e-16 * loss / h) are both
// near 1e-10.
const (
	peftFDStep    = 1e-5
	peftFDAbs     = 1e-8
	peftFDRel     = 1e-6
	peftFDSamples = 6 // entries checked per tensor (first, last and random ones)
)

// TestPEFTGradients holds every method's parameter gradients, on every
// architecture, to central finite differences of PEFTLoss.
func TestPEFTGradients(t *testing.T) {
	for _, arch := range Archs {
		r := peftReference(t, arch)
		b := peftBatch(r.Spec.Vocab)
		for _, c := range peftCases(arch) {
			t.Run(fmt.Sprintf("%s/%s", arch, c.name), func(t *testing.T) {
				set := newPEFTSet(t, r, c.configs...)
				frac, abs := checkPEFTGradients(t, r, set, peftParams(set, 9), b)
				t.Logf("worst |fd - grad|: %.3g; worst as a fraction of its tolerance: %.3g", abs, frac)
			})
		}
	}
}

// checkPEFTGradients checks sampled entries of every tensor of set and
// returns the worst error as a fraction of its tolerance and the worst
// absolute error.
func checkPEFTGradients(t *testing.T, r *Reference, set *peft.Set, params []float64, b PEFTBatch) (frac, abs float64) {
	t.Helper()
	grads := make([]float64, set.Size)
	if _, err := r.PEFTLoss(set, params, b, grads); err != nil {
		t.Fatal(err)
	}
	checkPadding(t, set, grads)
	rng := rand.New(rand.NewPCG(2, 3))
	for _, tn := range set.Tensors {
		if !slices.ContainsFunc(grads[tn.Off:tn.Off+tn.Len], func(g float64) bool { return g != 0 }) {
			t.Errorf("%s: gradient is all zero", tn.Name)
		}
		for k := range peftFDSamples {
			i := [...]int{0, tn.Len - 1}[min(k, 1)]
			if k > 1 {
				i = rng.IntN(tn.Len)
			}
			fd := peftFiniteDiff(t, r, set, params, b, tn.Off+i)
			g := grads[tn.Off+i]
			e := math.Abs(fd-g) / (peftFDAbs + peftFDRel*math.Abs(g))
			frac, abs = max(frac, e), max(abs, math.Abs(fd-g))
			if !(e <= 1) {
				t.Errorf("%s[%d]: grad %.10g, finite difference %.10g", tn.Name, i, g, fd)
			}
		}
	}
	return frac, abs
}

// checkPadding checks that the alignment gaps between tensors got no
// gradient.
func checkPadding(t *testing.T, set *peft.Set, grads []float64) {
	t.Helper()
	end := 0
	for _, tn := range append(slices.Clone(set.Tensors), peft.Tensor{Off: set.Size}) {
		for i := end; i < tn.Off; i++ {
			if grads[i] != 0 {
				t.Fatalf("gradient %g in the padding at %d", grads[i], i)
			}
		}
		end = tn.Off + tn.Len
	}
}

// peftFiniteDiff is the central difference of the loss at params[i].
func peftFiniteDiff(t *testing.T, r *Reference, set *peft.Set, params []float64, b PEFTBatch, i int) float64 {
	t.Helper()
	x := params[i]
	defer func() { params[i] = x }()
	var l [2]float64
	for j, d := range [2]float64{peftFDStep, -peftFDStep} {
		params[i] = x + d
		var err error
		if l[j], err = r.PEFTLoss(set, params, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	return (l[0] - l[1]) / (2 * peftFDStep)
}

// TestPEFTIdentityAtInit checks the base path against Reference.Forward
// (float32) and that the methods that start neutral — LoRA (B = 0), IA3
// (ones), adapters (up = 0) — leave the base logits bit for bit at
// Set.Init.
func TestPEFTIdentityAtInit(t *testing.T) {
	for _, arch := range Archs {
		r := peftReference(t, arch)
		b := peftBatch(r.Spec.Vocab)
		base, err := r.PEFTLogits(nil, nil, b)
		if err != nil {
			t.Fatal(err)
		}
		checkBaseAgainstForward(t, r, b, base)
		cases := peftCases(arch)
		named := map[string]peftCase{}
		for _, c := range cases {
			named[c.name] = c
		}
		neutral := []peftCase{named["lora"], named["ia3"], named["pfeiffer"], named["houlsby"],
			{"lora+ia3+houlsby", []peft.Config{named["lora"].configs[0], named["ia3"].configs[0], named["houlsby"].configs[0]}}}
		for _, c := range neutral {
			set := newPEFTSet(t, r, c.configs...)
			params := make([]float64, set.Size)
			for i, v := range set.Init(4) {
				params[i] = float64(v)
			}
			got, err := r.PEFTLogits(set, params, b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, base) {
				t.Errorf("%s/%s: logits at Set.Init differ from the base model's", arch, c.name)
			}
		}
	}
}

// checkBaseAgainstForward holds the float64 base logits (B,T,V) to the
// float32 Reference.Forward of each sequence: max |diff| <= 1e-5 * max
// |logit|.
func checkBaseAgainstForward(t *testing.T, r *Reference, b PEFTBatch, base []float64) {
	t.Helper()
	V := r.Spec.Vocab
	var maxDiff, maxLogit float64
	for s := range b.B {
		want, err := r.Forward(b.Tokens[s*b.T : (s+1)*b.T])
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			maxLogit = max(maxLogit, math.Abs(float64(w)))
			maxDiff = max(maxDiff, math.Abs(base[s*b.T*V+i]-float64(w)))
		}
	}
	if !(maxDiff <= 1e-5*maxLogit) {
		t.Errorf("%s: base logits differ from Reference.Forward by %g (max |logit| %g)", r.Spec.Arch, maxDiff, maxLogit)
	}
}

// TestPEFTPromptPrefixAsTokens checks the placement and positions of
// prompt and prefix tuning against the base model on longer sequences:
// prefix slots holding the keys and values of tokens u1 (after RoPE, as
// a KV cache holds them), and prompt embeddings equal to the embeddings
// of tokens u2, make the logits of the base model on u1 u2 tokens.
func TestPEFTPromptPrefixAsTokens(t *testing.T) {
	u1, u2 := []int{5, 17, 40, 2}, []int{33, 8, 61}
	for _, arch := range Archs {
		r := peftReference(t, arch)
		b := peftBatch(r.Spec.Vocab)
		prefix := peft.Config{Method: peft.Prefix, VirtualTokens: len(u1)}
		prompt := peft.Config{Method: peft.Prompt, VirtualTokens: len(u2)}
		for _, configs := range [][]peft.Config{{prefix}, {prompt}, {prefix, prompt}} {
			set := newPEFTSet(t, r, configs...)
			params := make([]float64, set.Size)
			lead := fillPrefix(t, r, set, params, u1)
			lead = append(lead, fillPrompt(r, set, params, u2)...)
			got, err := r.PEFTLogits(set, params, b)
			if err != nil {
				t.Fatal(err)
			}
			for s := range b.B {
				checkLedSequence(t, r, lead, b.Tokens[s*b.T:(s+1)*b.T], got[s*b.T*r.Spec.Vocab:][:b.T*r.Spec.Vocab])
			}
		}
	}
}

// fillPrefix sets the prefix slots of set to the keys and values of
// tokens u run alone, and returns the tokens they stand for.
func fillPrefix(t *testing.T, r *Reference, set *peft.Set, params []float64, u []int) []int {
	t.Helper()
	if set.PrefixTokens() == 0 {
		return nil
	}
	p, err := r.newPEFTRun(nil, nil, nil, PEFTBatch{B: 1, T: len(u), Tokens: u})
	if err != nil {
		t.Fatal(err)
	}
	p.onKV = func(l int, k, v []float64) {
		pk, _ := set.Tensor(fmt.Sprintf("blk.%d.prefix.k", l))
		pv, _ := set.Tensor(fmt.Sprintf("blk.%d.prefix.v", l))
		copy(params[pk.Off:pk.Off+pk.Len], k)
		copy(params[pv.Off:pv.Off+pv.Len], v)
	}
	p.forward(u)
	return u
}

// fillPrompt sets the prompt embeddings of set to the token embeddings of
// u and returns them.
func fillPrompt(r *Reference, set *peft.Set, params []float64, u []int) []int {
	if set.VirtualTokens() == 0 {
		return nil
	}
	C := r.Spec.Hidden
	pe, _ := set.Tensor("prompt.embeddings")
	for i, id := range u {
		for c := range C {
			params[pe.Off+i*C+c] = float64(r.TokenEmbd[id*C+c])
		}
	}
	return u
}

// checkLedSequence checks got, the logits (T,V) of tokens after the
// leading tokens as prefix or prompt, against the base model on lead then
// tokens.
func checkLedSequence(t *testing.T, r *Reference, lead, tokens []int, got []float64) {
	t.Helper()
	all := append(slices.Clone(lead), tokens...)
	want, err := r.PEFTLogits(nil, nil, PEFTBatch{B: 1, T: len(all), Tokens: all})
	if err != nil {
		t.Fatal(err)
	}
	want = want[len(lead)*r.Spec.Vocab:]
	var maxDiff, maxLogit float64
	for i, w := range want {
		maxLogit = max(maxLogit, math.Abs(w))
		maxDiff = max(maxDiff, math.Abs(got[i]-w))
	}
	if !(maxDiff <= 1e-12*maxLogit) {
		t.Errorf("%s, %d leading tokens: logits differ from the base model's on the whole sequence by %g (max |logit| %g)",
			r.Spec.Arch, len(lead), maxDiff, maxLogit)
	}
}

// TestPEFTLossMasking checks the loss against the logits, that masked
// targets contribute nothing, that gradients accumulate, and that a batch
// without targets has loss 0 and no gradient.
func TestPEFTLossMasking(t *testing.T) {
	r := peftReference(t, Qwen2)
	set := newPEFTSet(t, r, peftCases(Qwen2)[6].configs...)
	params := peftParams(set, 9)
	b := peftBatch(r.Spec.Vocab)
	logits, err := r.PEFTLogits(set, params, b)
	if err != nil {
		t.Fatal(err)
	}
	grads := make([]float64, set.Size)
	loss, err := r.PEFTLoss(set, params, b, grads)
	if err != nil {
		t.Fatal(err)
	}
	if want := manualLoss(logits, b.Targets, r.Spec.Vocab); math.Abs(loss-want) > 1e-12*want {
		t.Errorf("loss %.15g, from the logits %.15g", loss, want)
	}
	// Changing what a masked row would predict changes nothing.
	other := b
	other.Targets = slices.Clone(b.Targets)
	other.Tokens = slices.Clone(b.Tokens)
	other.Tokens[b.T-1] = (other.Tokens[b.T-1] + 1) % r.Spec.Vocab // row 4 of sequence 0 only feeds its own target
	other.Targets[b.T-1] = -1
	b2 := b
	b2.Targets = slices.Clone(b.Targets)
	b2.Targets[b.T-1] = -1
	l1, _ := r.PEFTLoss(set, params, b2, nil)
	l2, _ := r.PEFTLoss(set, params, other, nil)
	if l1 != l2 {
		t.Errorf("a masked last token changed the loss: %.15g vs %.15g", l1, l2)
	}
	checkAccumulates(t, r, set, params, b, grads)
	none := b
	none.Targets = slices.Repeat([]int{-1}, b.B*b.T)
	zero := make([]float64, set.Size)
	if l, err := r.PEFTLoss(set, params, none, zero); err != nil || l != 0 || slices.ContainsFunc(zero, func(g float64) bool { return g != 0 }) {
		t.Errorf("no targets: loss %g, err %v, or a gradient", l, err)
	}
}

// manualLoss is the mean of -log softmax(logits)[target] over the
// targets that are not -1.
func manualLoss(logits []float64, targets []int, V int) float64 {
	var sum float64
	n := 0
	for r, tg := range targets {
		if tg < 0 {
			continue
		}
		row := logits[r*V : (r+1)*V]
		m := slices.Max(row)
		var z float64
		for _, v := range row {
			z += math.Exp(v - m)
		}
		sum += math.Log(z) + m - row[tg]
		n++
	}
	return sum / float64(n)
}

// checkAccumulates checks that a second PEFTLoss adds the same gradient
// again to grads (which holds one).
func checkAccumulates(t *testing.T, r *Reference, set *peft.Set, params []float64, b PEFTBatch, grads []float64) {
	t.Helper()
	once := slices.Clone(grads)
	if _, err := r.PEFTLoss(set, params, b, grads); err != nil {
		t.Fatal(err)
	}
	for i, g := range grads {
		if math.Abs(g-2*once[i]) > 1e-12*(1+math.Abs(g)) {
			t.Fatalf("gradient %d: %g after two passes, %g after one", i, g, once[i])
		}
	}
}

// TestPEFTAsMergedWeights checks LoRA and IA3 against the base model with
// the methods merged into its weights (float32, so within 1e-5 of the
// largest logit): LoRA adds s * B A to its module's weight; IA3 scales the
// rows (and bias) of k, v (and gpt2's q) after LoRA, and the columns of
// the down projection.
func TestPEFTAsMergedWeights(t *testing.T) {
	for _, arch := range Archs {
		r := peftReference(t, arch)
		b := peftBatch(r.Spec.Vocab)
		cases := peftCases(arch)
		for _, c := range []peftCase{cases[0], cases[1], {"lora+ia3", []peft.Config{cases[0].configs[0], cases[1].configs[0]}}} {
			set := newPEFTSet(t, r, c.configs...)
			params := peftParams(set, 11)
			got, err := r.PEFTLogits(set, params, b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mergePEFT(r, set, params).PEFTLogits(nil, nil, b)
			if err != nil {
				t.Fatal(err)
			}
			var maxDiff, maxLogit float64
			for i, w := range want {
				maxLogit = max(maxLogit, math.Abs(w))
				maxDiff = max(maxDiff, math.Abs(got[i]-w))
			}
			if !(maxDiff <= 1e-5*maxLogit) {
				t.Errorf("%s/%s: logits differ from the merged model's by %g (max |logit| %g)", arch, c.name, maxDiff, maxLogit)
			}
		}
	}
}

// mergePEFT returns a copy of r with set's LoRA and IA3 merged into its
// layers' weights.
func mergePEFT(r *Reference, set *peft.Set, params []float64) *Reference {
	m := *r
	m.Layers = slices.Clone(r.Layers)
	lora, _ := set.Config(peft.LoRA)
	tensor := func(l int, name string) []float64 {
		t, ok := set.Tensor(fmt.Sprintf("blk.%d.%s", l, name))
		if !ok {
			return nil
		}
		return params[t.Off : t.Off+t.Len]
	}
	for l := range m.Layers {
		w := &m.Layers[l]
		mods := map[string][2]*[]float32{"q": {&w.Q, &w.QBias}, "k": {&w.K, &w.KBias}, "v": {&w.V, &w.VBias},
			"o": {&w.AttnOut, &w.AttnOutBias}, "gate": {&w.Gate, nil}, "up": {&w.Up, &w.UpBias}, "down": {&w.Down, &w.DownBias}}
		for name, wb := range mods {
			*wb[0] = slices.Clone(*wb[0])
			if wb[1] != nil {
				*wb[1] = slices.Clone(*wb[1])
			}
			if a := tensor(l, "lora_"+name+".a"); a != nil {
				mergeLoRA(*wb[0], a, tensor(l, "lora_"+name+".b"), lora.Scale(), lora.Rank)
			}
			if s := tensor(l, "ia3."+name); s != nil {
				scaleRows(*wb[0], *wb[1], s)
			}
		}
		if s := tensor(l, "ia3.ffn"); s != nil {
			for i := range w.Down {
				w.Down[i] = float32(float64(w.Down[i]) * s[i%len(s)])
			}
		}
	}
	return &m
}

// mergeLoRA adds s * B A (out, in) to w; A (r, in), B (out, r).
func mergeLoRA(w []float32, a, b []float64, s float64, r int) {
	in := len(a) / r
	for i := range w {
		o, c := i/in, i%in
		var d float64
		for k := range r {
			d += b[o*r+k] * a[k*in+c]
		}
		w[i] = float32(float64(w[i]) + s*d)
	}
}

// scaleRows multiplies row o of w (out, in) and bias[o] (if any) by s[o].
func scaleRows(w, bias []float32, s []float64) {
	in := len(w) / len(s)
	for i := range w {
		w[i] = float32(float64(w[i]) * s[i/in])
	}
	for o := range bias {
		bias[o] = float32(float64(bias[o]) * s[o])
	}
}

// TestPrefixInferenceForm checks Set.InferenceForm (what inference and
// PEFT export use) against the reference's own projection: the plain
// prefixes it computes give the projected set's logits.
func TestPrefixInferenceForm(t *testing.T) {
	for _, arch := range Archs {
		r := peftReference(t, arch)
		b := peftBatch(r.Spec.Vocab)
		set := newPEFTSet(t, r, peft.Config{Method: peft.Prefix, VirtualTokens: 3, PrefixProjection: true, EncoderHidden: 7},
			peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4})
		p64 := peftParams(set, 8)
		p32 := make([]float32, len(p64))
		for i, v := range p64 {
			p64[i] = float64(float32(v)) // the same values in both forms
			p32[i] = float32(v)
		}
		plain, pp, err := set.InferenceForm(p32)
		if err != nil {
			t.Fatal(err)
		}
		if plain.Projected() || plain.PrefixTokens() != 3 {
			t.Fatalf("%s: inference form still projects, or lost its prefix", arch)
		}
		want, err := r.PEFTLogits(set, p64, b)
		if err != nil {
			t.Fatal(err)
		}
		pp64 := make([]float64, len(pp))
		for i, v := range pp {
			pp64[i] = float64(v)
		}
		got, err := r.PEFTLogits(plain, pp64, b)
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff, maxLogit float64
		for i := range want {
			maxDiff = max(maxDiff, math.Abs(got[i]-want[i]))
			maxLogit = max(maxLogit, math.Abs(want[i]))
		}
		// The plain prefixes are the projection rounded to float32.
		if !(maxDiff <= 1e-5*maxLogit) {
			t.Errorf("%s: logits through InferenceForm differ by %g (max |logit| %g)", arch, maxDiff, maxLogit)
		}
	}
}
