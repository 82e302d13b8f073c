package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"webpeft/engine/corpus"
	"webpeft/engine/gpu/gputest"
	"webpeft/engine/model"
	"webpeft/engine/tokenizer"
)

func TestReadLabeled(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	os.WriteFile(good, []byte("{\"prompt\": \"a\\nLabel:\", \"completion\": \" spam\"}\n\n{\"prompt\": \"b\\nLabel:\", \"completion\": \" ham\"}\n{\"prompt\": \"c\\nLabel:\", \"completion\": \"ham\"}\n"), 0o644)
	ex, err := readLabeled(good)
	if err != nil || len(ex) != 3 || ex[0].Completion != " spam" {
		t.Fatalf("%v %+v", err, ex)
	}
	if got := majorityShare(ex); got != 2.0/3 {
		t.Errorf("majority share %v, want 2/3 (\" ham\" and \"ham\" are one label)", got)
	}
	for name, body := range map[string]string{
		"text.jsonl":   `{"text": "no label"}`,
		"empty.jsonl":  `{"prompt": "a", "completion": "  "}`,
		"broken.jsonl": "{\"prompt\": \"a\", \"completion\": \" ham\"}\n{broken",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := readLabeled(p); err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAccuracyEval runs the metric on a tiny random model with a trained
// vocabulary: an example whose label is what the model generates counts,
// one whose label is not does not, and the JSON has the three keys.
func TestAccuracyEval(t *testing.T) {
	gputest.Device(t)
	v, _ := trainedTokenizer(t, "300")
	m := tinyModelWithVocab(t, v)
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	g, err := loadGPU(m)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	labels := []corpus.Example{
		{Prompt: "Email: free money\nLabel:", Completion: " spam"},
		{Prompt: "Email: meeting at noon\nLabel:", Completion: " ham"},
		{Prompt: "Email: lunch?\nLabel:", Completion: " ham"},
	}
	if n := labelTokens(tok, labels); n != len(tok.Encode(" spam", tokenizer.EncodeOptions{})) {
		t.Errorf("label tokens %d", n)
	}
	// An example whose label is what the model answers (greedy, as many
	// tokens as the longest label, stop at newline) must count. Random
	// weights often answer with half a UTF-8 character; look for a prompt
	// with a clean answer that does not need more tokens than the labels.
	most := labelTokens(tok, labels)
	gen, err := g.NewAdapterGenerator(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	examples := slices.Clone(labels)
	want := -1.0
	for _, word := range strings.Fields("free money meeting noon lunch offer hello the union state of war peace") {
		prompt := "Email: " + word + "\nLabel:"
		answer, err := gen.Text(tok, &v, prompt, model.GenerateOptions{MaxTokens: most, Stop: []string{"\n"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(answer) == "" || strings.ContainsRune(answer, utf8.RuneError) || len(tok.Encode(answer, tokenizer.EncodeOptions{})) > most {
			continue
		}
		examples = append(examples, corpus.Example{Prompt: prompt, Completion: answer})
		base, err := accuracyEval(g, nil, tok, &v, labels, 0)
		if err != nil {
			t.Fatal(err)
		}
		want = (base.Accuracy*3 + 1) / 4
		t.Logf("the model answers %q to %q", answer, prompt)
		break
	}
	gen.Free()
	if want < 0 {
		t.Log("no prompt got a clean answer from the random model: only the mechanics are checked")
	}
	path := filepath.Join(t.TempDir(), "val.jsonl")
	var lines bytes.Buffer
	for _, e := range examples {
		b, _ := json.Marshal(e)
		lines.Write(append(b, '\n'))
	}
	os.WriteFile(path, lines.Bytes(), 0o644)
	var out bytes.Buffer
	if err := evalAccuracy(g, nil, tok, &v, path, &out); err != nil {
		t.Fatal(err)
	}
	var res map[string]float64
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 3 {
		t.Fatalf("printed %q (%v)", out.String(), err)
	}
	acc, n, majority := res["accuracy"], res["examples"], res["majority_baseline"]
	if n != float64(len(examples)) || acc < 0 || acc > 1 || majority < 0.4 || majority > 1 {
		t.Errorf("accuracy %v of %v examples, majority %v", acc, n, majority)
	}
	if want >= 0 && acc != want {
		t.Errorf("accuracy %v, want %v (the model's own answer counts, a wrong label does not)", acc, want)
	}
}
