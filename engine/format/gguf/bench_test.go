package gguf

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"webpeft/engine/tensor"
)

// bigTensors make a file of about 1 GB (993 MB): mostly Q8_0, as a
// quantized model is, with F32, F16 and Q4_K tensors too.
var bigTensors = []struct {
	name  string
	typ   tensor.Type
	shape []uint64
}{
	{"blk.0.ffn_up.weight", tensor.Q8_0, []uint64{4096, 32768}},
	{"blk.0.ffn_down.weight", tensor.Q8_0, []uint64{32768, 4096}},
	{"blk.1.ffn_up.weight", tensor.Q8_0, []uint64{4096, 32768}},
	{"blk.1.ffn_down.weight", tensor.Q8_0, []uint64{32768, 4096}},
	{"blk.2.ffn_up.weight", tensor.Q8_0, []uint64{4096, 32768}},
	{"blk.2.ffn_down.weight", tensor.Q8_0, []uint64{32768, 4096}},
	{"token_embd.weight", tensor.F32, []uint64{4096, 4096}},
	{"output.weight", tensor.F16, []uint64{4096, 8192}},
	{"blk.3.attn_q.weight", tensor.Q4_K, []uint64{4096, 4096}},
}

// chunkBytes is how much raw data one streamed chunk of rows holds.
const chunkBytes = 2 << 20

// BenchmarkRead1GB writes a ~1 GB GGUF to a temporary directory (tensor
// data generated a chunk at a time, never whole), then opens it and
// streams every tensor in row chunks through reused buffers, decoding
// each chunk to float32. It reports the Go heap's growth while doing so
// (peak HeapAlloc over the starting point, sampled after every chunk) and
// the bytes allocated in all (TotalAlloc); the design asks for growth
// under 64 MB, so more fails the benchmark.
func BenchmarkRead1GB(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.gguf")
	size := writeBigFile(b, path)
	b.SetBytes(size)
	var peak, total uint64
	for b.Loop() {
		p, t := streamFile(b, path)
		peak, total = max(peak, p), max(total, t)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-growth-MB")
	b.ReportMetric(float64(total)/(1<<20), "allocated-MB")
	if peak >= 64<<20 {
		b.Errorf("heap grew by %d MB streaming a %d MB file, want under 64 MB", peak>>20, size>>20)
	}
}

// writeBigFile writes the bigTensors with pseudo-random blocks and
// returns the file's size.
func writeBigFile(b *testing.B, path string) int64 {
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	bl := NewBuilder()
	bl.AddKV("general.architecture", "llama")
	bl.AddKV("general.name", "1 GB streaming benchmark")
	for i, bt := range bigTensors {
		write := func(w io.Writer) error { return writeRandomBlocks(w, bt.typ, bt.shape, uint64(i)) }
		if err := bl.AddTensorFunc(bt.name, bt.typ, bt.shape, write); err != nil {
			b.Fatal(err)
		}
	}
	n, err := bl.WriteTo(fh)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// writeRandomBlocks writes a tensor's data a chunk at a time: random
// bytes, every f16 made finite (the top exponent bit of each 2-byte word
// cleared) so the decoded values are ordinary numbers.
func writeRandomBlocks(w io.Writer, typ tensor.Type, shape []uint64, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	size, err := dataSize(typ, shape)
	if err != nil {
		return err
	}
	buf := make([]byte, chunkBytes)
	for size > 0 {
		chunk := buf[:min(size, uint64(len(buf)))]
		for i := 0; i+8 <= len(chunk); i += 8 {
			binary.LittleEndian.PutUint64(chunk[i:], rng.Uint64()&^0x4000_4000_4000_4000)
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		size -= uint64(len(chunk))
	}
	return nil
}

// streamFile opens path and decodes every tensor in chunks of rows. It
// returns the peak heap growth and the total bytes allocated.
func streamFile(b *testing.B, path string) (peak, total uint64) {
	runtime.GC()
	var before, now runtime.MemStats
	runtime.ReadMemStats(&before)
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		b.Fatal(err)
	}
	f, err := Open(fh, st.Size())
	if err != nil {
		b.Fatal(err)
	}
	raw := make([]byte, chunkBytes)
	var out []float32 // grown to the largest chunk's values (Q4_K: 144 bytes hold 256)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		step := max(1, chunkBytes/int(t.RowBytes()))
		for r := 0; r < int(t.Rows()); r += step {
			rows := min(step, int(t.Rows())-r)
			chunk := raw[:rows*int(t.RowBytes())]
			if err := f.ReadRawInto(chunk, t, r, rows); err != nil {
				b.Fatal(err)
			}
			if n := rows * int(t.RowLen()); cap(out) < n {
				out = make([]float32, n)
			}
			if err := tensor.DecodeRows(t.Type, out[:rows*int(t.RowLen())], chunk); err != nil {
				b.Fatal(err)
			}
			runtime.ReadMemStats(&now)
			peak = max(peak, now.HeapAlloc-min(now.HeapAlloc, before.HeapAlloc))
		}
	}
	return peak, now.TotalAlloc - before.TotalAlloc
}
