package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tokenizer"
	"webpeft/engine/train"
)

// trainFlags are the flags of `webpeft train`.
type trainFlags struct {
	model, data, methods, out, resume      string
	initAdapter                            string
	steps, epochs, seq, batch, accum       int
	lr, valSplit, weightDecay, maxGradNorm float64
	seed                                   uint64
	evalEvery, saveEvery, warmup           int
	schedule, recompute, onBadLine         string
	peft                                   peft.Config
	targets                                string
}

func parseTrainFlags(args []string) (*trainFlags, error) {
	f := &trainFlags{}
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.StringVar(&f.model, "model", "", "model file (GGUF) or Hugging Face folder")
	fs.StringVar(&f.data, "data", "", "training data: .txt, or .jsonl with {text}, {prompt, completion} or {messages}")
	fs.StringVar(&f.methods, "method", "lora", "lora, prompt, prefix, ia3 or adapter (several: lora,prompt)")
	fs.StringVar(&f.out, "out", "", "output folder: adapter, checkpoints, log.jsonl")
	fs.StringVar(&f.resume, "resume", "", "continue from the checkpoint in this folder")
	fs.StringVar(&f.initAdapter, "init-adapter", "", "start from this adapter (webpeft, Hugging Face PEFT or GGUF LoRA); its methods replace --method")
	fs.IntVar(&f.steps, "steps", 0, "optimizer steps (default: --epochs 1 worth)")
	fs.IntVar(&f.epochs, "epochs", 0, "passes over the data (when --steps is not given)")
	fs.IntVar(&f.seq, "seq", 128, "tokens per sequence")
	fs.IntVar(&f.batch, "batch", 1, "sequences per micro-batch")
	fs.IntVar(&f.accum, "accum", 1, "micro-batches per optimizer step")
	fs.Float64Var(&f.lr, "lr", 0, "peak learning rate (default per method)")
	fs.StringVar(&f.schedule, "schedule", "cosine", "constant, linear or cosine")
	fs.IntVar(&f.warmup, "warmup", 0, "linear warmup steps")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0, "AdamW decoupled weight decay")
	fs.Float64Var(&f.maxGradNorm, "max-grad-norm", 1, "clip the global gradient norm (0: off)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for initialisation, data order and dropout")
	fs.Float64Var(&f.valSplit, "val-split", 0.1, "fraction of examples held out for validation")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "validate every K steps (default: steps/10)")
	fs.IntVar(&f.saveEvery, "save-every", 0, "checkpoint every K steps (default: steps/10)")
	fs.StringVar(&f.recompute, "recompute", "auto", "recompute activations in backward: auto, on or off")
	fs.StringVar(&f.onBadLine, "on-bad-line", "error", "a broken data line: error or skip")
	fs.IntVar(&f.peft.Rank, "rank", 8, "LoRA rank")
	fs.Float64Var(&f.peft.Alpha, "alpha", 16, "LoRA alpha")
	fs.Float64Var(&f.peft.Dropout, "dropout", 0, "LoRA dropout")
	fs.BoolVar(&f.peft.RSLoRA, "rslora", false, "scale LoRA by alpha/sqrt(r)")
	fs.StringVar(&f.targets, "targets", "q,v", "LoRA target modules: q,k,v,o,gate,up,down")
	fs.IntVar(&f.peft.VirtualTokens, "virtual-tokens", 20, "prompt / prefix tuning tokens")
	fs.BoolVar(&f.peft.PrefixProjection, "prefix-projection", false, "prefix tuning through PEFT's reparameterisation MLP")
	fs.IntVar(&f.peft.EncoderHidden, "encoder-hidden", 0, "prefix projection MLP width (default: the model's hidden size)")
	fs.StringVar(&f.peft.PromptInit, "prompt-init", "random", "prompt tuning init: random, vocab or text")
	fs.StringVar(&f.peft.InitText, "prompt-init-text", "", "prompt tuning init text (implies --prompt-init text)")
	fs.IntVar(&f.peft.Bottleneck, "bottleneck", 16, "adapter bottleneck width")
	fs.StringVar(&f.peft.AdapterType, "adapter-type", "pfeiffer", "adapter placement: pfeiffer or houlsby")
	fs.StringVar(&f.peft.AdapterAct, "adapter-act", "relu", "adapter activation: relu or gelu")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.model == "" || f.data == "" || f.out == "" {
		return nil, errors.New("usage: webpeft train --model MODEL --data FILE --method lora|prompt|prefix|ia3|adapter --out DIR [--steps N | --epochs E] [--seq T] [--batch B] [--lr LR] (see -h)")
	}
	f.peft.Targets = strings.Split(f.targets, ",")
	return f, nil
}

// configs turns --method into the PEFT configurations.
func (f *trainFlags) configs() []peft.Config {
	var cs []peft.Config
	for _, m := range strings.Split(f.methods, ",") {
		c := f.peft
		c.Method = strings.TrimSpace(m)
		if c.Method == peft.Prompt && c.InitText != "" && c.PromptInit == "random" {
			c.PromptInit = "text"
		}
		if c.Method != peft.Prefix {
			c.PrefixProjection, c.EncoderHidden = false, 0
		}
		cs = append(cs, c)
	}
	return cs
}

func cmdTrain(args []string, out io.Writer) error {
	f, err := parseTrainFlags(args)
	if err != nil {
		return err
	}
	m, err := model.Open(f.model)
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Vocab == nil {
		return fmt.Errorf("%s has no tokenizer, so it cannot read training text", f.model)
	}
	tok, err := tokenizer.New(*m.Vocab)
	if err != nil {
		return err
	}
	set, params, st, err := f.startState(m)
	if err != nil {
		return err
	}
	examples, val, err := f.loadData(train.Codec{Tok: tok, Vocab: m.Vocab, ChatTemplate: m.ChatTemplate})
	if err != nil {
		return err
	}
	g, err := loadGPU(m)
	if err != nil {
		return err
	}
	defer g.Free()
	tr, err := model.NewTrainer(g, set, model.TrainOptions{B: f.batch, T: f.seq, Recompute: f.recompute,
		MaxGradNorm: float32(f.maxGradNorm), Seed: f.seed})
	if err != nil {
		return err
	}
	defer tr.Free()
	if st != nil {
		err = train.Resume(tr, st)
	} else {
		err = tr.SetParams(params)
	}
	if err != nil {
		return err
	}
	return f.run(tr, m, examples, val, st, out)
}

// startState makes a fresh set and parameters, or reads --resume or
// --init-adapter.
func (f *trainFlags) startState(m *model.Model) (*peft.Set, []float32, *train.State, error) {
	if f.resume != "" {
		st, err := train.LoadState(f.resume)
		if err != nil {
			return nil, nil, nil, err
		}
		if want := model.PEFTDims(m.Spec); st.Set.Dims != want {
			return nil, nil, nil, fmt.Errorf("the checkpoint in %s was made for another model (%+v, not %+v)", f.resume, st.Set.Dims, want)
		}
		f.seed = st.Seed
		return st.Set, st.Params, st, nil
	}
	if f.initAdapter != "" {
		set, params, err := readAdapter(f.initAdapter, m.Spec)
		return set, params, nil, err
	}
	set, err := peft.NewSet(model.PEFTDims(m.Spec), f.configs()...)
	if err != nil {
		return nil, nil, nil, err
	}
	params := set.Init(f.seed)
	if err := model.InitPromptRows(m, set, params, f.seed); err != nil {
		return nil, nil, nil, err
	}
	return set, params, nil, nil
}

func (f *trainFlags) loadData(c train.Codec) (examples, val []train.Example, err error) {
	file, err := os.Open(f.data)
	if err != nil {
		return nil, nil, err
	}
	defer file.Close()
	ex, err := train.Load(file, f.data, c, train.DataOptions{Seq: f.seq, OnBadLine: f.onBadLine,
		Warn: func(s string) { fmt.Fprintln(os.Stderr, "webpeft:", s) }})
	if err != nil {
		return nil, nil, err
	}
	examples, val = train.Split(ex, f.valSplit, f.seed)
	fmt.Fprintf(os.Stderr, "webpeft: %d training and %d validation sequences of up to %d tokens\n", len(examples), len(val), f.seq)
	return examples, val, nil
}

func (f *trainFlags) run(tr *model.Trainer, m *model.Model, examples, val []train.Example, st *train.State, out io.Writer) error {
	steps := f.steps
	if steps == 0 {
		epochs := max(f.epochs, 1)
		steps = max(1, epochs*len(examples)/(f.batch*f.accum))
	}
	lr := f.lr
	if lr == 0 {
		lr = train.DefaultLR(tr.Set().Configs[0].Method)
	}
	data, err := train.NewBatcher(examples, f.batch, f.seq, f.seed)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(f.out, "log.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	opt := train.Options{Steps: steps, Accum: f.accum, WeightDecay: f.weightDecay, Dir: f.out, Seed: f.seed,
		Schedule:  train.Schedule{Kind: f.schedule, LR: lr, Warmup: f.warmup, Steps: steps},
		EvalEvery: orDefault(f.evalEvery, max(1, steps/10)), SaveEvery: orDefault(f.saveEvery, max(1, steps/10))}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(os.Stderr, "webpeft: training %s for %d steps at lr %g (recompute %v)\n", f.methods, steps, lr, tr.Recomputing())
	sum, err := train.Run(ctx, tr, data, val, opt, st, log, progressBar)
	fmt.Fprintln(os.Stderr)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "webpeft: interrupted; checkpoint saved in %s (continue with --resume %s)\n", f.out, f.out)
	}
	if err != nil {
		return err
	}
	if err := saveAdapter(tr, m, f.out); err != nil {
		return err
	}
	fmt.Fprintf(out, "{\"steps\": %d, \"loss\": %.6g, \"val_loss\": %s, \"tokens_per_s\": %.4g, \"adapter\": %q}\n",
		sum.Steps, sum.Loss, jsonFloat(sum.ValLoss), sum.TokensPerS, f.out)
	return nil
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func jsonFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	return fmt.Sprintf("%.6g", v)
}

// progressBar prints one updating line: step, loss, tokens/s, ETA.
func progressBar(p train.Progress) {
	frac := float64(p.Step) / float64(p.Steps)
	perStep := float64(p.Elapsed) / float64(p.Step-p.StartStep)
	eta := time.Duration(perStep * float64(p.Steps-p.Step)).Round(time.Second)
	bar := strings.Repeat("#", int(20*frac)) + strings.Repeat(".", 20-int(20*frac))
	val := ""
	if !math.IsNaN(p.ValLoss) {
		val = fmt.Sprintf(" val %.4f", p.ValLoss)
	}
	fmt.Fprintf(os.Stderr, "\r[%s] step %d/%d loss %.4f%s lr %.2g %.1f tok/s ETA %v   ", bar, p.Step, p.Steps, p.Loss, val, p.LR, p.TokensPerS, eta)
}

// saveAdapter writes the trained adapter into dir.
func saveAdapter(tr *model.Trainer, m *model.Model, dir string) error {
	params, err := tr.Params()
	if err != nil {
		return err
	}
	cfg, err := os.Create(filepath.Join(dir, peft.ConfigFile))
	if err != nil {
		return err
	}
	defer cfg.Close()
	ts, err := os.Create(filepath.Join(dir, peft.TensorsFile))
	if err != nil {
		return err
	}
	defer ts.Close()
	return peft.WriteNative(cfg, ts, tr.Set(), params, model.PEFTInfo(m.Spec))
}
