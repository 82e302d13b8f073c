package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"webpeft/engine/model"
	"webpeft/engine/tensor"
	"webpeft/engine/tokenizer"
)

// inspectJSON is `webpeft inspect --json`. Shapes are in ggml order,
// fastest dimension first, as llama.cpp and the testdata READMEs write them.
type inspectJSON struct {
	Architecture    string         `json:"architecture"`
	Name            string         `json:"name,omitempty"`
	Format          string         `json:"format"`
	Hyperparameters map[string]any `json:"hyperparameters"`
	Tensors         []tensorJSON   `json:"tensors"`
	Tokenizer       *tokenizerJSON `json:"tokenizer,omitempty"`
	Bytes           int64          `json:"bytes"`
}

type tensorJSON struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape []int  `json:"shape"`
}

type tokenizerJSON struct {
	Model     string `json:"model"`
	Pre       string `json:"pre,omitempty"`
	VocabSize int    `json:"vocab_size"`
	BOS       int    `json:"bos"`
	EOS       int    `json:"eos"`
}

func cmdInspect(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	path, err := parseWithPath(fs, args, "inspect MODEL [--json]")
	if err != nil {
		return err
	}
	m, err := model.Open(path)
	if err != nil {
		return err
	}
	defer m.Close()
	info := describe(m)
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(out, "%s (%s, %s, %d bytes)\n", info.Name, info.Architecture, info.Format, info.Bytes)
	for _, k := range []string{"vocab", "hidden", "ffn", "layers", "heads", "kv_heads", "head_dim", "context", "rope", "rope_theta", "norm", "norm_eps", "tied_embeddings", "qkv_bias"} {
		fmt.Fprintf(out, "  %-16s %v\n", k, info.Hyperparameters[k])
	}
	if t := info.Tokenizer; t != nil {
		fmt.Fprintf(out, "  tokenizer        %s %s, %d tokens, bos %d, eos %d\n", t.Model, t.Pre, t.VocabSize, t.BOS, t.EOS)
	}
	for _, t := range info.Tensors {
		fmt.Fprintf(out, "  %-32s %-6s %v\n", t.Name, t.Type, t.Shape)
	}
	return nil
}

func describe(m *model.Model) inspectJSON {
	s := m.Spec
	info := inspectJSON{
		Architecture: string(s.Arch), Name: s.Name, Format: m.Format, Bytes: m.Bytes,
		Hyperparameters: map[string]any{
			"vocab": s.Vocab, "hidden": s.Hidden, "ffn": s.FFN, "layers": s.Layers, "heads": s.Heads,
			"kv_heads": s.KVHeads, "head_dim": s.HeadDim, "context": s.Context, "rope": s.Rope.String(),
			"rope_theta": s.RopeTheta, "norm": s.Norm.String(), "norm_eps": s.NormEps,
			"tied_embeddings": s.TiedEmbeddings, "qkv_bias": s.QKVBias, "activation": s.Activation,
		},
	}
	for _, t := range s.Tensors {
		shape := make([]int, len(t.Shape))
		for i, d := range t.Shape {
			shape[len(t.Shape)-1-i] = d
		}
		info.Tensors = append(info.Tensors, tensorJSON{Name: t.Name, Type: t.Type, Shape: shape})
	}
	if v := m.Vocab; v != nil {
		info.Tokenizer = &tokenizerJSON{Model: v.Model, Pre: v.Pre, VocabSize: len(v.Tokens), BOS: v.BOS, EOS: v.EOS}
	}
	return info
}

func cmdTokenize(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	path := fs.String("model", "", "model file (GGUF) or Hugging Face folder")
	bos := fs.Bool("bos", false, "add the BOS token")
	special := fs.Bool("special", false, "parse special tokens written in the text")
	decode := fs.Bool("decode", false, "read token ids and print their text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("usage: webpeft tokenize --model MODEL [--bos] [--special] [--decode] < input")
	}
	tok, err := openTokenizer(*path)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	if *decode {
		ids, err := parseIDs(string(data), tok.VocabSize())
		if err != nil {
			return err
		}
		_, err = io.WriteString(out, tok.Decode(ids))
		return err
	}
	ids := tok.Encode(string(data), tokenizer.EncodeOptions{AddBOS: *bos, ParseSpecial: *special})
	w := bufio.NewWriter(out)
	for i, id := range ids {
		if i > 0 {
			w.WriteByte(' ')
		}
		w.WriteString(strconv.Itoa(id))
	}
	w.WriteByte('\n')
	return w.Flush()
}

func openTokenizer(path string) (*tokenizer.Tokenizer, error) {
	v, err := model.OpenVocab(path)
	if err != nil {
		return nil, err
	}
	return tokenizer.New(*v)
}

func parseIDs(text string, vocab int) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(text) {
		id, err := strconv.Atoi(f)
		if err != nil || id < 0 || id >= vocab {
			return nil, fmt.Errorf("%q is not a token id of this vocabulary (0..%d)", f, vocab-1)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func cmdConvert(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	typ := fs.String("type", "q8_0", "tensor type of the 2-D weights: f32, f16, q8_0, q4_0, q4_k or q6_k")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: webpeft convert IN OUT.gguf [--type f32|f16|q8_0|q4_0|q4_k|q6_k]")
	}
	t, err := tensor.ParseType(strings.ToUpper(*typ))
	if err != nil {
		return err
	}
	m, err := model.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer m.Close()
	return writeAtomically(fs.Arg(1), func(w io.Writer) error { return model.WriteGGUF(w, m, t) }, out)
}

// writeAtomically writes to a temporary file beside path and renames it
// into place only on success, so a failed conversion never leaves a
// half-written file where a good one was.
func writeAtomically(path string, write func(io.Writer) error, out io.Writer) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".webpeft-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", path)
	return nil
}

// parseWithPath parses flags that may come before or after one path.
func parseWithPath(fs *flag.FlagSet, args []string, usage string) (string, error) {
	if err := fs.Parse(reorder(args)); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		return "", errors.New("usage: webpeft " + usage)
	}
	return fs.Arg(0), nil
}

// reorder moves flags in front of positional arguments, so that
// "inspect MODEL --json" works like "inspect --json MODEL".
func reorder(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-"):
			rest = append(rest, a)
		case strings.Contains(a, "=") || a == "--json" || a == "-json":
			flags = append(flags, a)
		case i+1 < len(args):
			flags = append(flags, a, args[i+1])
			i++
		default:
			flags = append(flags, a)
		}
	}
	return append(flags, rest...)
}
