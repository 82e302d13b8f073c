//go:build !js

package model

import (
	"errors"
	"strings"
	"testing"

	"webpeft/engine/gpu/gputest"
	"webpeft/engine/tensor"
)

// TestGPURefuses: what the GPU engine cannot run is refused at load, by
// name, and a prompt longer than the context is refused or, when asked,
// truncated, never silently.
func TestGPURefuses(t *testing.T) {
	d := gputest.Device(t)
	cfg := tinyConfig(GPT2, tensor.Q8_0)
	cfg.Context = 32
	m, _, err := RandomModel(cfg)
	if err != nil {
		t.Fatal(err)
	}

	spec := *m.Spec
	spec.Arch = "mamba"
	if _, err := LoadGPU(d, &Model{Spec: &spec}, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "mamba") {
		t.Errorf("architecture mamba: err = %v, want a refusal naming it", err)
	}
	spec = *m.Spec
	spec.Tensors = append([]Tensor(nil), spec.Tensors...)
	up, _ := spec.Tensor("blk.1.ffn_up.weight")
	up.Type = "Q2_K"
	if _, err := LoadGPU(d, &Model{Spec: &spec}, LoadOptions{}); err == nil ||
		!strings.Contains(err.Error(), "Q2_K") || !strings.Contains(err.Error(), up.Name) {
		t.Errorf("a Q2_K tensor: err = %v, want a refusal naming the tensor and its type", err)
	}

	g, err := LoadGPU(d, m, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	if _, err := g.Logits(tinyTokens(cfg.Vocab, 33), false); err == nil {
		t.Error("33 tokens through a 32-position model: no error")
	}
	gen, err := g.NewGenerator(0)
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Free()
	long := tinyTokens(cfg.Vocab, 30)
	if _, err := gen.Tokens(long, GenerateOptions{MaxTokens: 4}, nil); !errors.Is(err, ErrPromptTooLong) {
		t.Errorf("30 prompt tokens + 4 new in 32 positions: err = %v, want ErrPromptTooLong", err)
	}
	out, err := gen.Tokens(long, GenerateOptions{MaxTokens: 4, Truncate: true}, nil)
	if err != nil || len(out) != 4 {
		t.Errorf("with Truncate: %d tokens, err = %v; want 4 tokens", len(out), err)
	}
	if _, err := gen.Tokens(long[:4], GenerateOptions{MaxTokens: 40}, nil); err == nil {
		t.Error("40 new tokens in 32 positions: no error")
	}
}
