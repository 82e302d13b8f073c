package gguf

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds Open arbitrary bytes. It must never panic, hang or
// allocate far beyond the input; whatever it accepts must be readable in
// full and must survive a write and a re-read unchanged.
// Seeds: testdata/fuzz/FuzzOpen (small valid and broken files) and the
// hostile table.
func FuzzOpen(f *testing.F) {
	for _, c := range hostileFiles() {
		f.Add(c.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		readEverything(t, file)
		if file.Alignment <= 1<<16 { // else a rewrite pads to gigabytes
			checkRewrite(t, file, data)
		}
	})
}

// readEverything decodes every tensor whole and in two chunks, and asks
// every accessor about every key.
func readEverything(t *testing.T, f *File) {
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		rows := int(ti.Rows())
		if ti.Size == 0 {
			rows = min(rows, 2) // zero-size tensors may claim 2^62 empty rows
		}
		if _, err := f.ReadF32(ti, 0, rows); err != nil {
			t.Fatalf("tensor %q: %v", ti.Name, err)
		}
		if _, err := f.ReadRaw(ti, rows/2, rows-rows/2); err != nil {
			t.Fatalf("tensor %q rows %d+: %v", ti.Name, rows/2, err)
		}
	}
	for _, kv := range f.KV {
		f.String(kv.Key)
		f.Int(kv.Key)
		f.Float(kv.Key)
		f.Bool(kv.Key)
		f.Strings(kv.Key)
		f.Float32s(kv.Key)
		f.Int32s(kv.Key)
	}
}

// checkRewrite writes what Open read with Builder (skipping tensors
// llama.cpp would not load: long names, no dimensions), reads it back and
// writes it again: both writes must be identical.
func checkRewrite(t *testing.T, f *File, data []byte) {
	first := rewrite(t, f, data)
	again, err := Open(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatalf("re-reading a rewritten file: %v", err)
	}
	if second := rewrite(t, again, first); !bytes.Equal(first, second) {
		t.Fatal("a rewritten file rewrites differently")
	}
}

func rewrite(t *testing.T, f *File, data []byte) []byte {
	b := NewBuilder()
	for _, kv := range f.KV {
		if err := b.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatalf("key %q read but not writable: %v", kv.Key, err)
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if len(ti.Shape) == 0 || checkTensorName(ti.Name) != nil {
			continue
		}
		raw := data[ti.Offset : ti.Offset+ti.Size]
		if err := b.AddTensor(ti.Name, ti.Type, ti.Shape, raw); err != nil {
			t.Fatalf("tensor %q read but not writable: %v", ti.Name, err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
