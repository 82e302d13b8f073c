package tokenizer

import (
	"strings"
	"testing"
)

// qwenTemplate is Qwen2-Instruct's ChatML template.
const qwenTemplate = `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// llama2Template is Llama-2-chat's template.
const llama2Template = `{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`

func TestRenderChat(t *testing.T) {
	chat := []Message{{"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}}
	got, err := RenderChat(qwenTemplate, chat, true, "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
		"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n" +
		"<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Errorf("ChatML:\n got  %q\n want %q", got, want)
	}

	withSystem := append([]Message{{"system", "Be brief."}}, chat...)
	got, err = RenderChat(llama2Template, withSystem, false, "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	want = "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]"
	if got != want {
		t.Errorf("Llama 2:\n got  %q\n want %q", got, want)
	}
}

func TestRenderChatErrors(t *testing.T) {
	_, err := RenderChat(llama2Template, []Message{{"assistant", "x"}}, false, "<s>", "</s>")
	if err == nil || !strings.Contains(err.Error(), "alternate") {
		t.Errorf("raise_exception: %v", err)
	}
	for _, tmpl := range []string{"{% for %}", "{{ messages[", "{% if x %}"} {
		if _, err := RenderChat(tmpl, nil, false, "", ""); err == nil {
			t.Errorf("%q rendered", tmpl)
		}
	}
}

// TestChatThroughTokenizer renders a Llama 2 chat and encodes it with
// special parsing: the rendered <s> and </s> become BOS and EOS.
func TestChatThroughTokenizer(t *testing.T) {
	tok := newTokenizer(t, loadGGUFVocab(t, "ggml-vocab-llama-spm.gguf"))
	text, err := RenderChat(llama2Template, []Message{{"user", "Hi"}, {"assistant", "Yo"}}, false, "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(text, EncodeOptions{ParseSpecial: true})
	if ids[0] != tok.BOS() || ids[len(ids)-1] != tok.EOS() {
		t.Errorf("ids %v do not start with BOS and end with EOS", ids)
	}
	if got := tok.Decode(ids); got != "[INST] Hi [/INST] Yo " {
		t.Errorf("Decode = %q", got)
	}
}

func TestChatTemplateFromConfig(t *testing.T) {
	got, err := ChatTemplateFromConfig(strings.NewReader(`{"chat_template": "{{ x }}"}`))
	if err != nil || got != "{{ x }}" {
		t.Errorf("string form: %q, %v", got, err)
	}
	got, err = ChatTemplateFromConfig(strings.NewReader(`{"chat_template": [{"name": "tool_use", "template": "a"}, {"name": "default", "template": "b"}]}`))
	if err != nil || got != "b" {
		t.Errorf("named form: %q, %v", got, err)
	}
	if _, err := ChatTemplateFromConfig(strings.NewReader(`{}`)); err == nil {
		t.Error("missing template accepted")
	}
}
