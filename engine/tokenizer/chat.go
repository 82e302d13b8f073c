package tokenizer

import (
	"fmt"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a chat.
type Message struct {
	Role    string // "system", "user", "assistant", ...
	Content string
}

// RenderChat renders a model's Jinja chat template (GGUF
// tokenizer.chat_template or tokenizer_config.json chat_template) over
// messages, with the variables templates expect: messages,
// add_generation_prompt, bos_token and eos_token. The result still
// holds special tokens as text; encode it with ParseSpecial set (and
// without AddBOS when the template writes bos_token itself).
func RenderChat(template string, messages []Message, addGenerationPrompt bool, bos, eos string) (out string, err error) {
	// The template comes from a model file: a malformed one must give an
	// error, not take the program down.
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("tokenizer: chat template: %v", r)
		}
	}()
	tmpl, err := jinja.Compile(template)
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template: %w", err)
	}
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err = tmpl.Render(map[string]any{
		"messages":              msgs,
		"add_generation_prompt": addGenerationPrompt,
		"bos_token":             bos,
		"eos_token":             eos,
	})
	if err != nil {
		return "", fmt.Errorf("tokenizer: chat template: %w", err)
	}
	return out, nil
}
