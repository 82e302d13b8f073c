package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// hfConfig is the part of tokenizer_config.json this package reads.
type hfConfig struct {
	AddBOS       *bool           `json:"add_bos_token"`
	AddEOS       *bool           `json:"add_eos_token"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	UNK          json.RawMessage `json:"unk_token"`
	PAD          json.RawMessage `json:"pad_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// ChatTemplateFromConfig returns the chat template of a
// tokenizer_config.json: its chat_template string, or from a list of
// named templates the one named "default".
func ChatTemplateFromConfig(configJSON io.Reader) (string, error) {
	var c hfConfig
	if err := decodeJSON(configJSON, &c); err != nil {
		return "", fmt.Errorf("tokenizer: tokenizer_config.json: %w", err)
	}
	return c.chatTemplate()
}

// apply lets tokenizer_config.json's choices win.
func (c *hfConfig) apply(v *Vocab) error {
	for _, s := range []struct {
		name string
		raw  json.RawMessage
		id   *int
	}{{"bos_token", c.BOS, &v.BOS}, {"eos_token", c.EOS, &v.EOS}, {"unk_token", c.UNK, &v.UNK}, {"pad_token", c.PAD, &v.PAD}} {
		text, ok := configTokenText(s.raw)
		if !ok {
			continue
		}
		id := indexOf(v.Tokens, text)
		if id < 0 {
			return fmt.Errorf("tokenizer: tokenizer_config.json %s %q is not in the vocabulary", s.name, text)
		}
		*s.id = id
	}
	if c.AddBOS != nil {
		v.AddBOS = *c.AddBOS
	}
	if c.AddEOS != nil {
		v.AddEOS = *c.AddEOS
	}
	return nil
}

// configTokenText reads a token written as "text" or {"content": "text"}.
func configTokenText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Content, obj.Content != ""
	}
	return "", false
}

func (c *hfConfig) chatTemplate() (string, error) {
	if len(c.ChatTemplate) == 0 || string(c.ChatTemplate) == "null" {
		return "", errors.New("tokenizer: tokenizer_config.json has no chat_template")
	}
	var s string
	if json.Unmarshal(c.ChatTemplate, &s) == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(c.ChatTemplate, &named); err != nil {
		return "", fmt.Errorf("tokenizer: chat_template is neither a string nor a list of named templates")
	}
	for _, t := range named {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", errors.New("tokenizer: chat_template has no template named \"default\"")
}
