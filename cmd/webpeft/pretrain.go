package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"webpeft/engine/model"
	"webpeft/engine/peft"
	"webpeft/engine/tensor"
	"webpeft/engine/tokenizer"
	"webpeft/engine/train"
)

// pretrainFlags are the flags of `webpeft pretrain`.
type pretrainFlags struct {
	cfg                          train.PretrainConfig
	data, val, tokenizer, out    string
	resume, init                 string
	exportOnly                   bool
	steps, seq, batch, accum     int
	warmup, evalEvery, saveEvery int
	lr, weightDecay, maxGrad     float64
	valSplit                     float64
}

// pretrainJSON is DIR/pretrain.json: what a resumed run needs besides the
// checkpoint (the shape, the data and the schedule).
const pretrainJSON = "pretrain.json"

func parsePretrainFlags(args []string) (*pretrainFlags, error) {
	f := &pretrainFlags{}
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.StringVar(&f.data, "data", "", "training text (.txt)")
	fs.StringVar(&f.val, "val", "", "validation text (.txt); default: --val-split of --data")
	fs.Float64Var(&f.valSplit, "val-split", 0.02, "fraction of --data held out when --val is not given")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.json (e.g. from webpeft tokenizer-train)")
	fs.StringVar(&f.out, "out", "", "output folder: checkpoints, log.jsonl, model-f32.gguf, model-q8_0.gguf")
	fs.StringVar(&f.resume, "resume", "", "continue the run in this folder (its pretrain.json and checkpoint)")
	fs.StringVar(&f.init, "init", "", "start from the checkpoint of another pretrain run folder, with its shape and tokenizer and a fresh optimizer and schedule: full fine-tuning on a new --data")
	fs.BoolVar(&f.exportOnly, "export", false, "with --resume: only write the checkpoint's model-f32.gguf and model-q8_0.gguf (to evaluate a run midway)")
	fs.StringVar(&f.cfg.Name, "name", "webpeft-default", "model name (general.name)")
	fs.IntVar(&f.cfg.Hidden, "hidden", 256, "hidden size")
	fs.IntVar(&f.cfg.Layers, "layers", 6, "transformer layers")
	fs.IntVar(&f.cfg.Heads, "heads", 4, "attention heads")
	fs.IntVar(&f.cfg.KVHeads, "kv-heads", 2, "key/value heads")
	fs.IntVar(&f.cfg.FFN, "ffn", 688, "feed-forward width")
	fs.IntVar(&f.cfg.Context, "context", 512, "context length the model declares")
	fs.Uint64Var(&f.cfg.Seed, "seed", 1, "seed of the initial weights and the data order")
	fs.IntVar(&f.steps, "steps", 1000, "optimizer steps")
	fs.IntVar(&f.seq, "seq", 128, "tokens per sequence")
	fs.IntVar(&f.batch, "batch", 8, "sequences per micro-batch")
	fs.IntVar(&f.accum, "accum", 1, "micro-batches per optimizer step")
	fs.Float64Var(&f.lr, "lr", 3e-3, "peak learning rate (cosine schedule)")
	fs.IntVar(&f.warmup, "warmup", 50, "linear warmup steps")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0.01, "AdamW decoupled weight decay")
	fs.Float64Var(&f.maxGrad, "max-grad-norm", 1, "clip the global gradient norm")
	fs.IntVar(&f.evalEvery, "eval-every", 100, "validate every K steps")
	fs.IntVar(&f.saveEvery, "save-every", 50, "checkpoint every K steps")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.exportOnly && f.resume == "" {
		return nil, errors.New("pretrain --export needs --resume DIR")
	}
	if f.init != "" {
		return f, f.readInit(fs)
	}
	if f.resume != "" {
		stepsSet := false
		fs.Visit(func(fl *flag.Flag) { stepsSet = stepsSet || fl.Name == "steps" })
		return f, f.readResume(stepsSet)
	}
	if f.data == "" || f.tokenizer == "" || f.out == "" {
		return nil, errors.New("pretrain needs --data, --tokenizer and --out (or --resume DIR)")
	}
	return f, nil
}

// pretrainRecord is pretrain.json.
type pretrainRecord struct {
	Config                       train.PretrainConfig
	Data, Val                    string
	ValSplit                     float64
	Steps, Seq, Batch, Accum     int
	Warmup, EvalEvery, SaveEvery int
	LR, WeightDecay, MaxGradNorm float64
}

func (f *pretrainFlags) record() pretrainRecord {
	return pretrainRecord{Config: f.cfg, Data: f.data, Val: f.val, ValSplit: f.valSplit, Steps: f.steps, Seq: f.seq,
		Batch: f.batch, Accum: f.accum, Warmup: f.warmup, EvalEvery: f.evalEvery, SaveEvery: f.saveEvery,
		LR: f.lr, WeightDecay: f.weightDecay, MaxGradNorm: f.maxGrad}
}

// readInit takes the shape and the tokenizer from the --init run; the
// data, the schedule and the output are this run's own.
func (f *pretrainFlags) readInit(fs *flag.FlagSet) error {
	if f.resume != "" {
		return errors.New("pretrain: --init starts a new run and --resume continues one; give one of them")
	}
	var shape []string
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "hidden", "layers", "heads", "kv-heads", "ffn", "context", "tokenizer":
			shape = append(shape, "--"+fl.Name)
		}
	})
	if len(shape) > 0 {
		return fmt.Errorf("pretrain --init: the shape and the tokenizer come from %s; drop %s", f.init, strings.Join(shape, ", "))
	}
	if f.data == "" || f.out == "" {
		return errors.New("pretrain --init needs --data and --out")
	}
	if filepath.Clean(f.out) == filepath.Clean(f.init) {
		return fmt.Errorf("pretrain --init: --out %s would overwrite the run it starts from", f.out)
	}
	r, err := readRecord(f.init, "--init")
	if err != nil {
		return err
	}
	seed := f.cfg.Seed
	f.cfg, f.cfg.Seed = r.Config, seed
	f.tokenizer = filepath.Join(f.init, "tokenizer.json")
	return nil
}

// readRecord reads dir's pretrain.json for the flag (--init or --resume)
// that names dir.
func readRecord(dir, flagName string) (pretrainRecord, error) {
	var r pretrainRecord
	raw, err := os.ReadFile(filepath.Join(dir, pretrainJSON))
	if err != nil {
		return r, fmt.Errorf("pretrain %s: %w", flagName, err)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("pretrain %s: %s: %w", flagName, pretrainJSON, err)
	}
	return r, nil
}

// readResume takes everything from DIR/pretrain.json; only an explicit
// --steps overrides the recorded count (to extend a finished run).
func (f *pretrainFlags) readResume(stepsSet bool) error {
	r, err := readRecord(f.resume, "--resume")
	if err != nil {
		return err
	}
	steps := r.Steps
	if stepsSet {
		steps = f.steps
	}
	f.cfg, f.data, f.val, f.valSplit, f.seq, f.batch, f.accum = r.Config, r.Data, r.Val, r.ValSplit, r.Seq, r.Batch, r.Accum
	f.warmup, f.evalEvery, f.saveEvery, f.lr, f.weightDecay, f.maxGrad = r.Warmup, r.EvalEvery, r.SaveEvery, r.LR, r.WeightDecay, r.MaxGradNorm
	f.steps, f.out, f.tokenizer = steps, f.resume, filepath.Join(f.resume, "tokenizer.json")
	return nil
}

func cmdPretrain(args []string, out io.Writer) error {
	f, err := parsePretrainFlags(args)
	if err != nil {
		return err
	}
	vocab, tok, err := readTokenizer(f.tokenizer)
	if err != nil {
		return err
	}
	m, set, params, err := train.NewPretrainModel(f.cfg, vocab)
	if err != nil {
		return err
	}
	f.cfg.Vocab = m.Spec.Vocab
	if err := f.prepareOut(); err != nil {
		return err
	}
	examples, val, err := f.loadData(train.Codec{Tok: tok, Vocab: &vocab})
	if err != nil {
		return err
	}
	d, err := openDevice()
	if err != nil {
		return err
	}
	g, err := model.LoadGPU(d, m, model.LoadOptions{Full: set})
	if err != nil {
		return err
	}
	defer g.Free()
	tr, err := model.NewTrainer(g, set, model.TrainOptions{B: f.batch, T: f.seq, MaxGradNorm: float32(f.maxGrad), Seed: f.cfg.Seed})
	if err != nil {
		return err
	}
	defer tr.Free()
	st, err := f.startState(tr, params)
	if err != nil {
		return err
	}
	if f.exportOnly {
		fmt.Fprintf(os.Stderr, "webpeft: writing the model of step %d\n", st.Step)
		return writePretrained(tr, m, set, f.out)
	}
	fmt.Fprintf(os.Stderr, "webpeft: pre-training %s: %d parameters (%d layers, hidden %d, vocabulary %d) for %d steps of %d x %d tokens\n",
		f.cfg.Name, f.cfg.Params(), f.cfg.Layers, f.cfg.Hidden, f.cfg.Vocab, f.steps, f.batch*f.accum, f.seq)
	return f.run(tr, m, set, examples, val, st, out)
}

// readTokenizer reads a tokenizer.json.
func readTokenizer(path string) (tokenizer.Vocab, *tokenizer.Tokenizer, error) {
	file, err := os.Open(path)
	if err != nil {
		return tokenizer.Vocab{}, nil, err
	}
	defer file.Close()
	vocab, err := tokenizer.FromTokenizerJSON(file)
	if err != nil {
		return tokenizer.Vocab{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	tok, err := tokenizer.New(vocab)
	return vocab, tok, err
}

// prepareOut writes pretrain.json and a copy of the tokenizer, so that
// --resume needs nothing else.
func (f *pretrainFlags) prepareOut() error {
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	if f.resume != "" {
		return nil
	}
	rec, err := json.MarshalIndent(f.record(), "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.out, pretrainJSON), append(rec, '\n'), 0o644); err != nil {
		return err
	}
	tj, err := os.ReadFile(f.tokenizer)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(f.out, "tokenizer.json"), tj, 0o644)
}

func (f *pretrainFlags) loadData(c train.Codec) (examples, val []train.Example, err error) {
	read := func(path string) ([]train.Example, error) {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		return train.Load(file, path, c, train.DataOptions{Seq: f.seq})
	}
	if examples, err = read(f.data); err != nil {
		return nil, nil, err
	}
	if f.val != "" {
		val, err = read(f.val)
	} else {
		examples, val = train.Split(examples, f.valSplit, f.cfg.Seed)
	}
	fmt.Fprintf(os.Stderr, "webpeft: %d training and %d validation sequences of %d tokens\n", len(examples), len(val), f.seq)
	return examples, val, err
}

// startState uploads the initial weights, or the checkpoint of --resume.
func (f *pretrainFlags) startState(tr *model.Trainer, params []float32) (*train.State, error) {
	if f.init != "" {
		return nil, f.setInitParams(tr)
	}
	if f.resume == "" {
		return nil, tr.SetParams(params)
	}
	st, err := loadCheckpoint(f.resume, tr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "webpeft: resuming at step %d\n", st.Step)
	return st, train.Resume(tr, st)
}

// setInitParams uploads the weights of the --init run's checkpoint; its
// optimizer state and step are left behind.
func (f *pretrainFlags) setInitParams(tr *model.Trainer) error {
	st, err := loadCheckpoint(f.init, tr)
	if err != nil {
		return fmt.Errorf("pretrain --init: %w", err)
	}
	fmt.Fprintf(os.Stderr, "webpeft: starting from the weights of %s (its step %d)\n", f.init, st.Step)
	return tr.SetParams(st.Params)
}

// loadCheckpoint reads dir's checkpoint and checks it fits tr's model.
func loadCheckpoint(dir string, tr *model.Trainer) (*train.State, error) {
	st, err := train.LoadState(dir)
	if err != nil {
		return nil, err
	}
	if st.Set.Size != tr.Set().Size {
		return nil, fmt.Errorf("the checkpoint in %s has %d parameters, the model %d", dir, st.Set.Size, tr.Set().Size)
	}
	return st, nil
}

func (f *pretrainFlags) run(tr *model.Trainer, m *model.Model, set *peft.Set, examples, val []train.Example, st *train.State, out io.Writer) error {
	data, err := train.NewBatcher(examples, f.batch, f.seq, f.cfg.Seed)
	if err != nil {
		return err
	}
	logPath := filepath.Join(f.out, "log.jsonl")
	if st != nil {
		// Steps the interrupted run logged after its checkpoint are redone.
		if err := train.TrimLog(logPath, st.Step); err != nil {
			return err
		}
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	opt := train.Options{Steps: f.steps, Accum: f.accum, WeightDecay: f.weightDecay, Dir: f.out, Seed: f.cfg.Seed,
		Beta2: 0.95, Schedule: train.Schedule{Kind: "cosine", LR: f.lr, Warmup: f.warmup, Steps: f.steps},
		EvalEvery: f.evalEvery, SaveEvery: f.saveEvery}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := train.Run(ctx, tr, data, val, opt, st, log, progressBar)
	fmt.Fprintln(os.Stderr)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "webpeft: interrupted; checkpoint saved in %s (continue with --resume %s)\n", f.out, f.out)
	}
	if err != nil {
		return err
	}
	if err := writePretrained(tr, m, set, f.out); err != nil {
		return err
	}
	fmt.Fprintf(out, "{\"steps\": %d, \"loss\": %.6g, \"val_loss\": %s, \"tokens_per_s\": %.4g, \"model\": %q}\n",
		sum.Steps, sum.Loss, jsonFloat(sum.ValLoss), sum.TokensPerS, filepath.Join(f.out, "model-q8_0.gguf"))
	return nil
}

// writePretrained writes the trained weights as model-f32.gguf and
// model-q8_0.gguf in dir.
func writePretrained(tr *model.Trainer, m *model.Model, set *peft.Set, dir string) error {
	params, err := tr.Params()
	if err != nil {
		return err
	}
	trained, err := model.FullModel(m, set, params)
	if err != nil {
		return err
	}
	for _, typ := range []tensor.Type{tensor.F32, tensor.Q8_0} {
		path := filepath.Join(dir, fmt.Sprintf("model-%s.gguf", strings.ToLower(typ.String())))
		if err := writeGGUFFile(path, trained, typ); err != nil {
			return err
		}
	}
	return nil
}

// writeGGUFFile writes m as a GGUF of typ at path, atomically.
func writeGGUFFile(path string, m *model.Model, typ tensor.Type) error {
	tmp := path + ".tmp"
	file, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := model.WriteGGUF(file, m, typ); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
