package tokenizer

import (
	"errors"
	"fmt"
)

// readStyle tells byte-level BPE from SentencePiece-style BPE and reads
// the pre-tokenizer or the space prefix.
func (f *hfFile) readStyle(v *Vocab) error {
	pre := flatten(f.PreTokenizer)
	norm := flatten(f.Normalizer)
	dec := flatten(f.Decoder)
	byteLevel := hasType(pre, "ByteLevel") || hasType(dec, "ByteLevel")
	spm := f.Model.ByteFallback || hasType(pre, "Metaspace") || hasType(dec, "Metaspace") ||
		hasType(dec, "ByteFallback") || hasReplace(norm, " ", "▁")
	switch {
	case byteLevel && !spm:
		v.Model = ModelGPT2
		name, err := preFromComponents(pre, f.Model.IgnoreMerges)
		v.Pre = name
		return err
	case spm && !byteLevel:
		v.Model, v.Pre = ModelLlama, "default"
		v.NoSpacePrefix = !addsSpacePrefix(norm, pre)
		return nil
	}
	return errors.New("tokenizer: tokenizer.json is neither byte-level BPE nor SentencePiece-style BPE")
}

// flatten lists a component, or the members of a Sequence, depth first.
func flatten(c *hfComponent) []hfComponent {
	if c == nil {
		return nil
	}
	var out []hfComponent
	var walk func(c hfComponent)
	walk = func(c hfComponent) {
		if c.Type != "Sequence" {
			out = append(out, c)
			return
		}
		for _, list := range [][]hfComponent{c.Normalizers, c.Pretokenizers, c.Processors, c.Decoders} {
			for _, m := range list {
				walk(m)
			}
		}
	}
	walk(*c)
	return out
}

func hasType(cs []hfComponent, typ string) bool {
	for _, c := range cs {
		if c.Type == typ {
			return true
		}
	}
	return false
}

func hasReplace(cs []hfComponent, from, to string) bool {
	for _, c := range cs {
		if c.Type == "Replace" && c.Pattern.String != nil && *c.Pattern.String == from && c.Content == to {
			return true
		}
	}
	return false
}

// addsSpacePrefix reads SentencePiece's add_dummy_prefix from a Prepend
// "▁" normalizer or a Metaspace pre-tokenizer.
func addsSpacePrefix(norm, pre []hfComponent) bool {
	for _, c := range norm {
		if c.Type == "Prepend" && c.Prepend == "▁" {
			return true
		}
	}
	for _, c := range pre {
		if c.Type != "Metaspace" {
			continue
		}
		if c.PrependScheme != "" {
			return c.PrependScheme != "never"
		}
		return c.AddPrefixSpace == nil || *c.AddPrefixSpace
	}
	return false
}

// preFromComponents names the pre-tokenizer whose stages a byte-level
// tokenizer.json's pre-tokenizers spell, preferring one that agrees on
// ignore_merges.
func preFromComponents(cs []hfComponent, ignoreMerges bool) (string, error) {
	var regexes []string
	for _, c := range cs {
		re, err := componentRegex(c)
		if err != nil {
			return "", err
		}
		if re != "" {
			regexes = append(regexes, re)
		}
	}
	name := ""
	for _, p := range preTokenizers() {
		if !equalStrings(p.regexes, regexes) {
			continue
		}
		if p.ignoreMerges == ignoreMerges {
			return p.name, nil
		}
		if name == "" {
			name = p.name
		}
	}
	if name != "" {
		return name, nil
	}
	return "", fmt.Errorf("tokenizer: unsupported pre-tokenizer regexes %q", regexes)
}

// componentRegex is the regex stage a pre-tokenizer component stands for
// ("" for none), in the spelling preTokenizers uses.
func componentRegex(c hfComponent) (string, error) {
	switch c.Type {
	case "ByteLevel":
		if c.AddPrefixSpace != nil && *c.AddPrefixSpace {
			return "", errors.New("tokenizer: ByteLevel add_prefix_space is not supported")
		}
		if c.UseRegex == nil || *c.UseRegex {
			return reGPT2, nil
		}
		return "", nil
	case "Digits":
		if c.IndividualDigits {
			return reDigit, nil
		}
		return reDigits, nil
	case "Split":
		if c.Pattern.Regex == nil || c.Behavior != "Isolated" || c.Invert {
			return "", errors.New("tokenizer: only Split with a Regex pattern, Isolated, not inverted, is supported")
		}
		return canonicalRegex(*c.Pattern.Regex), nil
	}
	return "", fmt.Errorf("tokenizer: pre-tokenizer %q is not supported", c.Type)
}

// canonicalRegex maps equivalent spellings of a stage to one.
func canonicalRegex(re string) string {
	switch re {
	case reGPT2HF:
		return reGPT2
	case reLlama3CS:
		return reLlama3
	case reQwen2CS:
		return reQwen2
	}
	return re
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
