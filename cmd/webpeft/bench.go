package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"webpeft/engine/bench"
	"webpeft/engine/ops"
)

// cmdBench runs the standard benchmark set (engine/bench) on this
// machine's adapter and prints one JSON object (--json) or a table; with
// -run it lists the individual ops.Benches() whose name contains the
// substring instead.
//
//	webpeft bench [--json] [--quick] [-time 1s]
//	webpeft bench -run matmul [-time 1s]
func cmdBench(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the standard set's result as one JSON object")
	quick := fs.Bool("quick", false, "tiny shapes and a tiny model (seconds; for tests)")
	minTime := fs.Duration("time", 0, "minimum time per kernel measurement (default 1s, --quick 50ms)")
	filter := fs.String("run", "", "instead of the standard set, every kernel benchmark whose name contains this")
	var more shapeList
	fs.Var(&more, "shape", "a further matmul shape MxKxN to measure, e.g. 4096x4096x4096 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := openDevice()
	if err != nil {
		return err
	}
	if *filter != "" {
		if *minTime == 0 {
			*minTime = time.Second
		}
		fmt.Fprintf(out, "adapter: %s\n", d)
		for _, b := range ops.Benches() {
			if !strings.Contains(b.Name, *filter) {
				continue
			}
			gflops, err := ops.Measure(d, b, *minTime)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%-44s %10.3f GFLOP/s\n", b.Name, gflops)
		}
		return nil
	}
	opts := bench.Options{Quick: *quick, MinTime: *minTime, MoreShapes: more}
	if !*asJSON {
		fmt.Fprintf(out, "adapter: %s\n", d)
		opts.OnStart = func(name string) { fmt.Fprintf(os.Stderr, "bench: %s...\n", name) }
	}
	r, err := bench.Run(d, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.WriteTable(out)
	return nil
}

// shapeList is the repeatable --shape MxKxN flag.
type shapeList []bench.Shape

func (l *shapeList) String() string { return fmt.Sprint(*l) }

func (l *shapeList) Set(v string) error {
	var s bench.Shape
	if n, err := fmt.Sscanf(v, "%dx%dx%d", &s.M, &s.K, &s.N); n != 3 || err != nil || s.M < 1 || s.K < 1 || s.N < 1 {
		return fmt.Errorf("--shape %q: want MxKxN, e.g. 4096x4096x4096", v)
	}
	*l = append(*l, s)
	return nil
}
