package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"time"

	"webpeft/engine/model"
)

// Options of a training run.
type Options struct {
	Steps       int // optimizer steps
	Accum       int // micro-batches per optimizer step (gradient accumulation); 0 means 1
	Schedule    Schedule
	Beta1       float64 // AdamW; 0 means 0.9
	Beta2       float64 // 0 means 0.999
	Eps         float64 // 0 means 1e-8
	WeightDecay float64
	EvalEvery   int    // validation every K steps (0: only at the end)
	SaveEvery   int    // checkpoint every K steps (0: only at the end)
	Dir         string // checkpoints; "" keeps none
	Seed        uint64
}

// Progress is reported after every optimizer step.
type Progress struct {
	Step, Steps int
	StartStep   int // where this run began: 0, or a resumed checkpoint's step
	Loss        float64
	ValLoss     float64 // NaN when not measured at this step
	LR          float64
	TokensPerS  float64
	Elapsed     time.Duration
}

// Summary is the result of a run.
type Summary struct {
	Steps      int     `json:"steps"`
	Loss       float64 `json:"loss"`    // the last step's training loss
	ValLoss    float64 `json:"valLoss"` // the last validation loss (NaN without validation data)
	TokensPerS float64 `json:"tokensPerSecond"`
}

// logLine is one line of log.jsonl.
type logLine struct {
	Step       int      `json:"step"`
	Loss       *float64 `json:"loss,omitempty"`
	LR         *float64 `json:"lr,omitempty"`
	TokensPerS *float64 `json:"tokens_per_s,omitempty"`
	ValLoss    *float64 `json:"val_loss,omitempty"`
}

// Run trains tr on the batcher's examples from state st (nil: a fresh
// start with tr's current parameters), writing one JSON object per step
// and per validation to log (may be nil). It stops early, after saving a
// checkpoint, when ctx is cancelled, and refuses a non-finite loss
// without saving it (the last good checkpoint stays).
func Run(ctx context.Context, tr *model.Trainer, data *Batcher, val []Example, opt Options, st *State, log io.Writer, onStep func(Progress)) (Summary, error) {
	if err := opt.Schedule.Validate(); err != nil {
		return Summary{}, err
	}
	opt = opt.withDefaults()
	step := 0
	if st != nil {
		step, data.Epoch, data.Next = st.Step, st.Epoch, st.Next
		data.order = nil
	}
	sum := Summary{Steps: step, ValLoss: math.NaN()}
	start, tokens, startStep := time.Now(), 0, step
	for step < opt.Steps {
		if err := ctx.Err(); err != nil {
			return sum, saveOr(tr, data, opt, step, err)
		}
		loss, n, err := optimizerStep(tr, data, opt, step+1)
		if err != nil {
			return sum, err
		}
		step++
		tokens += n
		p := Progress{Step: step, Steps: opt.Steps, StartStep: startStep, Loss: loss, ValLoss: math.NaN(), LR: opt.Schedule.At(step),
			Elapsed: time.Since(start), TokensPerS: float64(tokens) / time.Since(start).Seconds()}
		writeLog(log, logLine{Step: step, Loss: &p.Loss, LR: &p.LR, TokensPerS: &p.TokensPerS})
		last := step == opt.Steps
		if len(val) > 0 && (last || (opt.EvalEvery > 0 && step%opt.EvalEvery == 0)) {
			if p.ValLoss, err = Validate(tr, val, data.B, data.T); err != nil {
				return sum, err
			}
			writeLog(log, logLine{Step: step, ValLoss: &p.ValLoss})
			sum.ValLoss = p.ValLoss
		}
		sum.Steps, sum.Loss, sum.TokensPerS = step, loss, p.TokensPerS
		if opt.Dir != "" && (last || (opt.SaveEvery > 0 && step%opt.SaveEvery == 0)) {
			if err := Save(tr, data, opt, step); err != nil {
				return sum, err
			}
		}
		if onStep != nil {
			onStep(p)
		}
	}
	return sum, nil
}

func (o Options) withDefaults() Options {
	if o.Accum < 1 {
		o.Accum = 1
	}
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	return o
}

// optimizerStep runs Accum micro-batches, the last one with the AdamW
// update, and returns the mean loss per target token.
func optimizerStep(tr *model.Trainer, data *Batcher, opt Options, step int) (float64, int, error) {
	h := model.AdamWHyper{LR: float32(opt.Schedule.At(step)), Beta1: float32(opt.Beta1), Beta2: float32(opt.Beta2),
		Eps: float32(opt.Eps), WeightDecay: float32(opt.WeightDecay)}
	var sum float64
	tokens := 0
	for i := 0; i < opt.Accum; i++ {
		res, err := tr.Step(data.Batch(), h, i == opt.Accum-1)
		if err != nil {
			return 0, 0, fmt.Errorf("train: step %d: %w", step, err)
		}
		sum += res.Loss * float64(res.Tokens)
		tokens += res.Tokens
	}
	return sum / float64(tokens), tokens, nil
}

// Validate returns the mean loss per target token over val.
func Validate(tr *model.Trainer, val []Example, B, T int) (float64, error) {
	var sum float64
	count := 0
	for _, b := range Batches(val, B, T) {
		n := 0
		for _, t := range b.Targets {
			if t >= 0 {
				n++
			}
		}
		if n == 0 {
			continue
		}
		l, err := tr.Loss(b)
		if err != nil {
			return 0, err
		}
		sum += l * float64(n)
		count += n
	}
	if count == 0 {
		return math.NaN(), errors.New("train: the validation set has no target tokens")
	}
	return sum / float64(count), nil
}

// Save writes a checkpoint of the run after step.
func Save(tr *model.Trainer, data *Batcher, opt Options, step int) error {
	p, m, v, t, err := tr.State()
	if err != nil {
		return err
	}
	return SaveState(opt.Dir, &State{Step: step, Epoch: data.Epoch, Next: data.Next, AdamT: t, Seed: opt.Seed,
		Set: tr.Set(), Params: p, M: m, V: v})
}

// saveOr saves a checkpoint (when there is a directory) before returning
// why the run stopped.
func saveOr(tr *model.Trainer, data *Batcher, opt Options, step int, why error) error {
	if opt.Dir == "" {
		return why
	}
	if err := Save(tr, data, opt, step); err != nil {
		return errors.Join(why, err)
	}
	return why
}

func writeLog(w io.Writer, l logLine) {
	if w == nil {
		return
	}
	b, _ := json.Marshal(l)
	w.Write(append(b, '\n'))
}

// TrimLog drops the lines of the log.jsonl at path that are about steps
// after step, so that a run resumed from step's checkpoint logs each step
// once. A missing log is fine.
func TrimLog(path string, step int) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		var l logLine
		if json.Unmarshal(line, &l) == nil && l.Step <= step {
			kept = append(kept, line...)
		}
	}
	return os.WriteFile(path, kept, 0o644)
}

// Resume restores a checkpoint into tr (whose set must have the same
// layout).
func Resume(tr *model.Trainer, st *State) error {
	return tr.SetState(st.Params, st.M, st.V, st.AdamT)
}
