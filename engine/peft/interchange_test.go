package peft_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"webpeft/engine/format/gguf"
	"webpeft/engine/format/safetensors"
	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
)

// The format facts these tests hold the exports to, from the sources
// (see /work/shared/research/peft_features.md for the citations):
//   - Hugging Face PEFT (huggingface/peft, src/peft): adapter_config.json
//     + adapter_model.safetensors (utils/constants.py); LoRA tensors
//     base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight
//     (out, r), Conv1D included (tuners/lora/layer.py update_layer: two
//     nn.Linear; _get_in_out_features reads Conv1D's (in, out) weight);
//     scale lora_alpha/r or lora_alpha/sqrt(r) with use_rslora; IA3
//     <module>.ia3_l (out, 1), (1, in) for feedforward_modules
//     (tuners/ia3/layer.py); prompt and prefix tuning one
//     prompt_embeddings tensor, prefixes (P, num_layers*2*token_dim) with
//     token_dim = head_dim * KV heads (peft_model.py get_prompt,
//     utils/other.py).
//   - llama.cpp (convert_lora_to_gguf.py, src/llama-adapter.cpp):
//     general.architecture = the base's, general.type "adapter",
//     adapter.type "lora", adapter.lora.alpha f32; <weight>.lora_a ggml
//     [in, r], .lora_b [r, out]; scale alpha/r.

// tinyModel is a small seeded model written as GGUF (llama: Q/K rows
// permuted, as llama.cpp's converter writes them).
func tinyModel(t *testing.T, arch model.Arch) *model.Model {
	t.Helper()
	return tinyModelWith(t, arch, nil)
}

// tinyModelWith is tinyModel with changes to its configuration.
func tinyModelWith(t *testing.T, arch model.Arch, change func(*model.RandomConfig)) *model.Model {
	t.Helper()
	cfg := model.RandomConfig{Arch: arch, Vocab: 64, Hidden: 32, FFN: 48, Layers: 2, Heads: 4, KVHeads: 2,
		Context: 32, Type: tensor.F32, Seed: 7, Tied: arch != model.Llama}
	if arch == model.GPT2 {
		cfg.KVHeads = 4
	}
	if change != nil {
		change(&cfg)
	}
	m, _, err := model.RandomModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// trained is a set for m with seeded parameters away from their
// initialisation (B non-zero, IA3 not 1), as after training.
func trained(t *testing.T, m *model.Model, c peft.Config) (*peft.Set, []float32) {
	t.Helper()
	set, err := peft.NewSet(model.PEFTDims(m.Spec), c)
	if err != nil {
		t.Fatal(err)
	}
	p := set.Init(1)
	rng := rand.New(rand.NewPCG(2, 3))
	for _, tt := range set.Tensors {
		for i := tt.Off; i < tt.Off+tt.Len; i++ {
			p[i] += float32(0.05 * (2*rng.Float64() - 1))
		}
	}
	return set, p
}

// methodCases are the methods the interchange formats hold, as trained
// here.
func methodCases(d peft.Dims) map[string]peft.Config {
	return map[string]peft.Config{
		"lora-all":    {Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: peft.AllModules(d)},
		"lora-rs-qv":  {Method: peft.LoRA, Rank: 2, Alpha: 3, RSLoRA: true, Targets: []string{"q", "v"}},
		"lora-kod":    {Method: peft.LoRA, Rank: 3, Alpha: 0.1, Dropout: 0.05, Targets: []string{"k", "o", "down"}},
		"ia3":         {Method: peft.IA3},
		"prompt":      {Method: peft.Prompt, VirtualTokens: 3},
		"prompt-text": {Method: peft.Prompt, VirtualTokens: 2, PromptInit: "text", InitText: "hi"},
		"prefix":      {Method: peft.Prefix, VirtualTokens: 2},
		"prefix-proj": {Method: peft.Prefix, VirtualTokens: 2, PrefixProjection: true, EncoderHidden: 8},
	}
}

var archs = []model.Arch{model.Llama, model.Qwen2, model.GPT2}

// refLogits are the reference's logits of a fixed batch with the adapter.
func refLogits(t *testing.T, r *model.Reference, set *peft.Set, params []float32) []float64 {
	t.Helper()
	p := make([]float64, len(params))
	for i, v := range params {
		p[i] = float64(v)
	}
	tokens := []int{3, 17, 42, 8, 61, 5}
	out, err := r.PEFTLogits(set, p, model.PEFTBatch{B: 1, T: len(tokens), Tokens: tokens, Targets: make([]int, len(tokens))})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// maxRel is max |a-b| / max |b|.
func maxRel(a, b []float64) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		m = math.Max(m, math.Abs(b[i]))
	}
	return d / m
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// TestPEFTRoundTrip: every method exported as a Hugging Face PEFT folder
// and imported again gives the same configuration and bit-identical
// parameters, hence identical reference logits, on llama (Q/K permuted:
// un-permuted out, permuted back in), qwen2 and gpt2 (q, k, v stacked
// into c_attn and split back). Projected prefixes come back as plain
// prefixes, PEFT's saved form, with the same logits up to float32
// rounding of the projection.
func TestPEFTRoundTrip(t *testing.T) {
	for _, arch := range archs {
		m := tinyModel(t, arch)
		r, err := model.LoadReference(m)
		if err != nil {
			t.Fatal(err)
		}
		d, info := model.PEFTDims(m.Spec), model.PEFTInfo(m.Spec)
		for name, c := range methodCases(d) {
			t.Run(fmt.Sprintf("%s/%s", arch, name), func(t *testing.T) {
				set, params := trained(t, m, c)
				cfg, ts, err := peft.ExportPEFT(set, params, info)
				if err != nil {
					t.Fatal(err)
				}
				set2, params2, err := peft.ImportPEFT(cfg, ts, d, info)
				if err != nil {
					t.Fatal(err)
				}
				want := refLogits(t, r, set, params)
				got := refLogits(t, r, set2, params2)
				if c.PrefixProjection {
					if rel := maxRel(got, want); rel > 1e-6 {
						t.Errorf("projected prefix: logits differ by %.3g of max |logit|", rel)
					}
					return
				}
				sameConfig(t, set.Configs[0], set2.Configs[0])
				if !sameBits(params, params2) {
					t.Error("parameters differ after the round trip")
				}
				if !slices.Equal(got, want) {
					t.Errorf("logits differ: %.3g of max |logit|", maxRel(got, want))
				}
			})
		}
	}
}

func sameConfig(t *testing.T, want, got peft.Config) {
	t.Helper()
	if want.Method == peft.Prefix {
		want.PrefixProjection, want.EncoderHidden = false, 0
	}
	if !slices.Equal(want.Targets, got.Targets) || want.Rank != got.Rank || want.Alpha != got.Alpha ||
		want.RSLoRA != got.RSLoRA || want.Dropout != got.Dropout || want.VirtualTokens != got.VirtualTokens ||
		want.PromptInit != got.PromptInit || want.InitText != got.InitText || want.PrefixProjection != got.PrefixProjection {
		t.Errorf("config came back as %+v, want %+v", got, want)
	}
}

// TestGGUFRoundTrip: LoRA exported as a llama.cpp GGUF adapter and
// imported again gives bit-identical parameters and identical reference
// logits. llama.cpp has no rsLoRA: such an adapter comes back as plain
// LoRA with the alpha of the same scale (float32 in the file).
func TestGGUFRoundTrip(t *testing.T) {
	for _, arch := range archs {
		m := tinyModel(t, arch)
		r, err := model.LoadReference(m)
		if err != nil {
			t.Fatal(err)
		}
		d, info := model.PEFTDims(m.Spec), model.PEFTInfo(m.Spec)
		for name, c := range methodCases(d) {
			if c.Method != peft.LoRA {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", arch, name), func(t *testing.T) {
				set, params := trained(t, m, c)
				var buf bytes.Buffer
				if err := peft.ExportGGUF(&buf, set, params, info); err != nil {
					t.Fatal(err)
				}
				set2, params2, err := peft.ImportGGUF(bytes.NewReader(buf.Bytes()), int64(buf.Len()), d, info)
				if err != nil {
					t.Fatal(err)
				}
				if !sameBits(params, params2) {
					t.Fatal("parameters differ after the round trip")
				}
				c1, c2 := set.Configs[0], set2.Configs[0]
				if !slices.Equal(c1.Targets, c2.Targets) || c1.Rank != c2.Rank || math.Abs(c1.Scale()-c2.Scale()) > 1e-7*c1.Scale() {
					t.Errorf("config came back as %+v, want %+v", c2, c1)
				}
				got, want := refLogits(t, r, set2, params2), refLogits(t, r, set, params)
				if c1.RSLoRA {
					if rel := maxRel(got, want); rel > 1e-6 {
						t.Errorf("logits differ by %.3g", rel)
					}
				} else if !slices.Equal(got, want) || c1.Alpha != c2.Alpha {
					t.Errorf("logits differ by %.3g (alpha %v, want %v)", maxRel(got, want), c2.Alpha, c1.Alpha)
				}
			})
		}
	}
}

// fixture is an expected export, written by hand from PEFT's and
// llama.cpp's documented formats (testdata/*.json).
type fixture struct {
	Config  map[string]json.RawMessage `json:"config"` // PEFT: keys that must be present with these values
	KV      map[string]json.RawMessage `json:"kv"`     // GGUF: metadata that must be present
	Tensors map[string]struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"` // PEFT: row-major; GGUF: ggml order
	} `json:"tensors"`
}

func readFixture(t *testing.T, name string) fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// fixtureCases pair each fixture with the model and method it describes.
var fixtureCases = []struct {
	fixture string
	arch    model.Arch
	config  peft.Config
}{
	{"peft_lora_llama", model.Llama, peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "down"}}},
	{"peft_lora_gpt2", model.GPT2, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v", "o", "down"}}},
	{"peft_ia3_qwen2", model.Qwen2, peft.Config{Method: peft.IA3}},
	{"peft_ia3_gpt2", model.GPT2, peft.Config{Method: peft.IA3}},
	{"peft_prompt_qwen2", model.Qwen2, peft.Config{Method: peft.Prompt, VirtualTokens: 3}},
	{"peft_prefix_llama", model.Llama, peft.Config{Method: peft.Prefix, VirtualTokens: 2}},
	{"gguf_lora_llama", model.Llama, peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "down"}}},
	{"gguf_lora_gpt2", model.GPT2, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v", "o", "down"}}},
}

// TestExportFixtures: file names aside (cmd/webpeft checks those), the
// exported config keys, tensor names, shapes and dtypes are the
// fixtures'.
func TestExportFixtures(t *testing.T) {
	for _, fc := range fixtureCases {
		t.Run(fc.fixture, func(t *testing.T) {
			want := readFixture(t, fc.fixture)
			m := tinyModel(t, fc.arch)
			set, params := trained(t, m, fc.config)
			info := model.PEFTInfo(m.Spec)
			if strings.HasPrefix(fc.fixture, "gguf") {
				checkGGUFFixture(t, want, set, params, info)
			} else {
				checkPEFTFixture(t, want, set, params, info)
			}
		})
	}
}

func checkPEFTFixture(t *testing.T, want fixture, set *peft.Set, params []float32, info peft.ModelInfo) {
	cfg, ts, err := peft.ExportPEFT(set, params, info)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &got); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, want.Config, got)
	f, err := safetensors.Open(bytes.NewReader(ts), int64(len(ts)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ti := range f.Tensors {
		seen[ti.Name] = true
		w, ok := want.Tensors[ti.Name]
		shape := make([]int, len(ti.Shape))
		for i, s := range ti.Shape {
			shape[i] = int(s)
		}
		if !ok || w.DType != string(ti.DType) || !slices.Equal(w.Shape, shape) {
			t.Errorf("tensor %s %s %v; fixture: %+v (listed: %v)", ti.Name, ti.DType, shape, w, ok)
		}
	}
	for n := range want.Tensors {
		if !seen[n] {
			t.Errorf("tensor %s missing", n)
		}
	}
}

func checkGGUFFixture(t *testing.T, want fixture, set *peft.Set, params []float32, info peft.ModelInfo) {
	var buf bytes.Buffer
	if err := peft.ExportGGUF(&buf, set, params, info); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]json.RawMessage{}
	for _, kv := range f.KV {
		b, _ := json.Marshal(kv.Value)
		got[kv.Key] = b
	}
	sameJSON(t, want.KV, got)
	if v, _ := f.Value("adapter.lora.alpha"); fmt.Sprintf("%T", v) != "float32" {
		t.Errorf("adapter.lora.alpha is %T, llama.cpp reads a float32", v)
	}
	seen := map[string]bool{}
	for _, ti := range f.Tensors {
		seen[ti.Name] = true
		w, ok := want.Tensors[ti.Name]
		shape := make([]int, len(ti.Shape))
		for i, s := range ti.Shape {
			shape[i] = int(s)
		}
		if !ok || w.DType != ti.Type.String() || !slices.Equal(w.Shape, shape) {
			t.Errorf("tensor %s %s %v; fixture: %+v (listed: %v)", ti.Name, ti.Type, shape, w, ok)
		}
	}
	for n := range want.Tensors {
		if !seen[n] {
			t.Errorf("tensor %s missing", n)
		}
	}
}

// sameJSON checks that every key of want is in got with an equal value.
func sameJSON(t *testing.T, want, got map[string]json.RawMessage) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		var wv, gv any
		json.Unmarshal(w, &wv)
		json.Unmarshal(g, &gv)
		if !ok || fmt.Sprint(wv) != fmt.Sprint(gv) {
			t.Errorf("%s = %s, want %s", k, g, w)
		}
	}
}

// hfTensor reads one tensor of an exported PEFT safetensors file.
func hfTensor(t *testing.T, ts []byte, name string) []float32 {
	t.Helper()
	f, err := safetensors.Open(bytes.NewReader(ts), int64(len(ts)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.ReadF32(info, 0, info.Rows())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func setTensor(set *peft.Set, params []float32, name string) []float32 {
	tt, _ := set.Tensor(name)
	return params[tt.Off : tt.Off+tt.Len]
}

// permuted applies model.PermuteQK (or UnpermuteQK) to float32 rows.
func permuted(t *testing.T, x []float32, heads, rowLen int, inverse bool) []float32 {
	t.Helper()
	raw, _ := safetensors.EncodeF32(safetensors.F32, x)
	out := make([]byte, len(raw))
	f := model.PermuteQK
	if inverse {
		f = model.UnpermuteQK
	}
	if err := f(out, raw, heads, 4*rowLen); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	safetensors.DecodeF32(safetensors.F32, y, out)
	return y
}

// TestPEFTUnpermutesLlama: from a llama GGUF model (Q/K rows permuted)
// the PEFT files hold q_proj's and k_proj's lora_B rows, k_proj's IA3
// vector and the prefix keys in Hugging Face's order — model.UnpermuteQK
// of the trained ones, per head (Q) or KV head (K) — and v unchanged.
func TestPEFTUnpermutesLlama(t *testing.T) {
	m := tinyModel(t, model.Llama)
	info := model.PEFTInfo(m.Spec)
	if !info.PermutedQK {
		t.Fatal("a llama GGUF model should have permuted Q/K rows")
	}
	s := m.Spec
	set, params := trained(t, m, peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k", "v"}})
	_, ts, err := peft.ExportPEFT(set, params, info)
	if err != nil {
		t.Fatal(err)
	}
	pre := "base_model.model.model.layers.1.self_attn."
	for _, c := range []struct {
		module string
		heads  int
		perm   bool
	}{{"q", s.Heads, true}, {"k", s.KVHeads, true}, {"v", s.KVHeads, false}} {
		b := setTensor(set, params, "blk.1.lora_"+c.module+".b")
		want := b
		if c.perm {
			want = permuted(t, b, c.heads, 4, true)
		}
		if !sameBits(hfTensor(t, ts, pre+c.module+"_proj.lora_B.weight"), want) {
			t.Errorf("%s_proj.lora_B is not the trained B in Hugging Face order", c.module)
		}
		if !sameBits(hfTensor(t, ts, pre+c.module+"_proj.lora_A.weight"), setTensor(set, params, "blk.1.lora_"+c.module+".a")) {
			t.Errorf("%s_proj.lora_A changed", c.module)
		}
	}
	set, params = trained(t, m, peft.Config{Method: peft.IA3})
	if _, ts, err = peft.ExportPEFT(set, params, info); err != nil {
		t.Fatal(err)
	}
	if !sameBits(hfTensor(t, ts, pre+"k_proj.ia3_l"), permuted(t, setTensor(set, params, "blk.1.ia3.k"), s.KVHeads, 1, true)) {
		t.Error("k_proj.ia3_l is not un-permuted")
	}
	set, params = trained(t, m, peft.Config{Method: peft.Prefix, VirtualTokens: 2})
	if _, ts, err = peft.ExportPEFT(set, params, info); err != nil {
		t.Fatal(err)
	}
	pe, KV := hfTensor(t, ts, "prompt_embeddings"), set.Dims.KV
	for p := 0; p < 2; p++ {
		row := pe[p*4*KV:]
		key := permuted(t, setTensor(set, params, "blk.1.prefix.k")[p*KV:(p+1)*KV], s.KVHeads, 1, true)
		if !sameBits(row[2*KV:3*KV], key) || !sameBits(row[3*KV:4*KV], setTensor(set, params, "blk.1.prefix.v")[p*KV:(p+1)*KV]) {
			t.Errorf("prefix row %d of layer 1 is not (un-permuted key, value)", p)
		}
	}
}

// TestReorderProjectedPrefix: reordering a projected prefix moves the
// encoder's key rows, so its output keys move exactly like plain ones.
func TestReorderProjectedPrefix(t *testing.T) {
	m := tinyModel(t, model.Llama)
	s := m.Spec
	set, params := trained(t, m, peft.Config{Method: peft.Prefix, VirtualTokens: 2, PrefixProjection: true, EncoderHidden: 8})
	hf, err := set.Reorder(params, s.Heads, s.KVHeads, false)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := set.PrefixKV(params)
	b, _ := set.PrefixKV(hf)
	KV := set.Dims.KV
	for p := 0; p < 2; p++ {
		for l := 0; l < s.Layers; l++ {
			at := p*s.Layers*2*KV + 2*l*KV
			if !sameBits(b[at:at+KV], permuted(t, a[at:at+KV], s.KVHeads, 1, true)) || !sameBits(b[at+KV:at+2*KV], a[at+KV:at+2*KV]) {
				t.Errorf("prefix %d layer %d: keys not un-permuted exactly, or values moved", p, l)
			}
		}
	}
	back, _ := set.Reorder(hf, s.Heads, s.KVHeads, true)
	if !sameBits(back, params) {
		t.Error("Reorder there and back is not the identity")
	}
}

// TestGPT2StackedCAttn: gpt2's q and v LoRAs (k not targeted) export as
// one c_attn LoRA of rank 3r: A rows [A_q; 0; A_v], B block-diagonal;
// o is padded to rank 3r; PEFT's scale alpha'/3r equals alpha/r.
func TestGPT2StackedCAttn(t *testing.T) {
	m := tinyModel(t, model.GPT2)
	set, params := trained(t, m, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v", "o"}})
	cfg, ts, err := peft.ExportPEFT(set, params, model.PEFTInfo(m.Spec))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		R     int     `json:"r"`
		Alpha float64 `json:"lora_alpha"`
	}
	json.Unmarshal(cfg, &c)
	if c.R != 6 || c.Alpha/float64(c.R) != 4.0/2 {
		t.Errorf("r %d, lora_alpha %v: want 6 and the scale 4/2", c.R, c.Alpha)
	}
	d, r, R := set.Dims, 2, 6
	pre := "base_model.model.transformer.h.0."
	A, B := hfTensor(t, ts, pre+"attn.c_attn.lora_A.weight"), hfTensor(t, ts, pre+"attn.c_attn.lora_B.weight")
	zero := make([]float32, r*d.Hidden)
	if !sameBits(A[:r*d.Hidden], setTensor(set, params, "blk.0.lora_q.a")) || !sameBits(A[r*d.Hidden:2*r*d.Hidden], zero) ||
		!sameBits(A[2*r*d.Hidden:], setTensor(set, params, "blk.0.lora_v.a")) {
		t.Error("c_attn lora_A is not [A_q; 0; A_v]")
	}
	bq, bv := setTensor(set, params, "blk.0.lora_q.b"), setTensor(set, params, "blk.0.lora_v.b")
	for o := 0; o < d.Q+2*d.KV; o++ {
		for j := 0; j < R; j++ {
			var want float32
			switch {
			case o < d.Q && j < r:
				want = bq[o*r+j]
			case o >= d.Q+d.KV && j >= 2*r:
				want = bv[(o-d.Q-d.KV)*r+j-2*r]
			}
			if B[o*R+j] != want {
				t.Fatalf("c_attn lora_B[%d][%d] = %v, want %v", o, j, B[o*R+j], want)
			}
		}
	}
	Ao := hfTensor(t, ts, pre+"attn.c_proj.lora_A.weight")
	if !sameBits(Ao[:r*d.Q], setTensor(set, params, "blk.0.lora_o.a")) || !sameBits(Ao[r*d.Q:], make([]float32, (R-r)*d.Q)) {
		t.Error("attn.c_proj lora_A is not A_o padded with zero rows")
	}
}

// TestGGUFPermutedOrder: a llama GGUF LoRA holds Q/K's lora_b rows in the
// GGUF model's permuted order: from a GGUF model as trained, from its
// Hugging Face twin (the same adapter in Hugging Face order) permuted —
// the two files are identical.
func TestGGUFPermutedOrder(t *testing.T) {
	m := tinyModel(t, model.Llama)
	info := model.PEFTInfo(m.Spec)
	set, params := trained(t, m, peft.Config{Method: peft.LoRA, Rank: 4, Alpha: 8, Targets: []string{"q", "k"}})
	hf, err := set.Reorder(params, info.Heads, info.KVHeads, false)
	if err != nil {
		t.Fatal(err)
	}
	hfInfo := info
	hfInfo.PermutedQK = false
	var a, b bytes.Buffer
	if err := peft.ExportGGUF(&a, set, params, info); err != nil {
		t.Fatal(err)
	}
	if err := peft.ExportGGUF(&b, set, hf, hfInfo); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the GGUF exports of the same adapter from a GGUF model and from its HF twin differ")
	}
	f, _ := gguf.Open(bytes.NewReader(a.Bytes()), int64(a.Len()))
	ti, _ := f.Tensor("blk.0.attn_q.weight.lora_b")
	got, _ := f.ReadF32(ti, 0, int(ti.Rows()))
	if !sameBits(got, setTensor(set, params, "blk.0.lora_q.b")) {
		t.Error("attn_q lora_b is not the GGUF model's B as trained")
	}
}

// TestNativeModelInfo: the native folder records the model; a folder
// written before it did (no "model" key) still loads, without it.
func TestNativeModelInfo(t *testing.T) {
	m := tinyModel(t, model.Llama)
	set, params := trained(t, m, peft.Config{Method: peft.IA3})
	var cfg, ts bytes.Buffer
	if err := peft.WriteNative(&cfg, &ts, set, params, model.PEFTInfo(m.Spec)); err != nil {
		t.Fatal(err)
	}
	d := model.PEFTDims(m.Spec)
	_, p2, info, err := peft.ReadNative(cfg.Bytes(), ts.Bytes(), &d)
	if err != nil || info == nil || *info != model.PEFTInfo(m.Spec) || !sameBits(p2, params) {
		t.Fatalf("read back info %+v, err %v", info, err)
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(cfg.Bytes(), &raw)
	delete(raw, "model")
	old, _ := json.Marshal(raw)
	_, p3, info, err := peft.ReadNative(old, ts.Bytes(), &d)
	if err != nil || info != nil || !sameBits(p3, params) {
		t.Fatalf("an old folder: info %+v, err %v", info, err)
	}
}

// TestPEFTForeignLoRA: a PEFT LoRA that webpeft did not write — gpt2's
// c_attn at another rank than the rest (rank_pattern, alpha_pattern) and
// not in webpeft's stacked layout — imports exactly up to float32
// rounding: q, k and v each take the whole A and their rows of B, ranks
// are padded to the largest and each module's scale folded into B.
func TestPEFTForeignLoRA(t *testing.T) {
	m := tinyModel(t, model.GPT2)
	r, err := model.LoadReference(m)
	if err != nil {
		t.Fatal(err)
	}
	d := model.PEFTDims(m.Spec)
	set, params := trained(t, m, peft.Config{Method: peft.LoRA, Rank: 2, Alpha: 4, Targets: []string{"q", "v", "o"}})
	// c_attn at rank 4: A = [A_q; A_v], B = [B_q 0; 0 0; 0 B_v] / 2 with
	// scale 16/4 = 4 (twice webpeft's 4/2); attn.c_proj at r 2, alpha 4.
	var ts []safetensors.WriteTensor
	f32 := func(name string, x []float32, shape ...int64) {
		raw, _ := safetensors.EncodeF32(safetensors.F32, x)
		ts = append(ts, safetensors.WriteTensor{Name: name, DType: safetensors.F32, Shape: shape, Data: raw})
	}
	out := d.Q + 2*d.KV
	for l := 0; l < d.Layers; l++ {
		pre := fmt.Sprintf("base_model.model.transformer.h.%d.", l)
		a := slices.Concat(setTensor(set, params, fmt.Sprintf("blk.%d.lora_q.a", l)), setTensor(set, params, fmt.Sprintf("blk.%d.lora_v.a", l)))
		b := make([]float32, out*4)
		bq, bv := setTensor(set, params, fmt.Sprintf("blk.%d.lora_q.b", l)), setTensor(set, params, fmt.Sprintf("blk.%d.lora_v.b", l))
		for o := 0; o < d.Q; o++ {
			b[o*4], b[o*4+1] = bq[o*2]/2, bq[o*2+1]/2
		}
		for o := 0; o < d.KV; o++ {
			row := d.Q + d.KV + o
			b[row*4+2], b[row*4+3] = bv[o*2]/2, bv[o*2+1]/2
		}
		f32(pre+"attn.c_attn.lora_A.weight", a, 4, int64(d.Hidden))
		f32(pre+"attn.c_attn.lora_B.weight", b, int64(out), 4)
		f32(pre+"attn.c_proj.lora_A.weight", setTensor(set, params, fmt.Sprintf("blk.%d.lora_o.a", l)), 2, int64(d.Q))
		f32(pre+"attn.c_proj.lora_B.weight", setTensor(set, params, fmt.Sprintf("blk.%d.lora_o.b", l)), int64(d.Hidden), 2)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4,
		"target_modules": ["c_attn", "c_proj"], "fan_in_fan_out": true,
		"rank_pattern": {"c_attn": 4}, "alpha_pattern": {"c_attn": 16}}`)
	set2, params2, err := peft.ImportPEFT(cfg, buf.Bytes(), d, model.PEFTInfo(m.Spec))
	if err != nil {
		t.Fatal(err)
	}
	c := set2.Configs[0]
	if c.Rank != 4 || c.Scale() != 1 || !slices.Equal(c.Targets, []string{"q", "k", "v", "o"}) {
		t.Errorf("imported as %+v", c)
	}
	if rel := maxRel(refLogits(t, r, set2, params2), refLogits(t, r, set, params)); rel > 1e-6 {
		t.Errorf("logits differ by %.3g of max |logit|", rel)
	}
}
