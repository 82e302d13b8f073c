package hf

import "encoding/json"

// GenerationConfig is generation_config.json: the sampling settings and
// special tokens the model's authors chose, with transformers'
// GenerationConfig defaults for missing keys.
type GenerationConfig struct {
	BOS int   // -1 when none
	EOS []int // generation stops at any of these
	PAD int   // -1 when none

	DoSample          bool    // false: greedy
	Temperature       float64 // default 1
	TopK              int     // default 50
	TopP              float64 // default 1
	RepetitionPenalty float64 // default 1
	MaxLength         int     // prompt + new tokens, default 20
	MaxNewTokens      int     // 0 when unset (then MaxLength rules)
}

// ParseGenerationConfig parses a generation_config.json.
func ParseGenerationConfig(data []byte) (*GenerationConfig, error) {
	o, err := parseObject("generation_config.json", data)
	if err != nil {
		return nil, err
	}
	g := &GenerationConfig{
		BOS:               o.tokenID("bos_token_id", -1),
		EOS:               o.tokenIDs("eos_token_id", nil),
		PAD:               o.tokenID("pad_token_id", -1),
		DoSample:          o.bool("do_sample", false),
		Temperature:       o.float("temperature", 1),
		TopK:              o.int("top_k", 50),
		TopP:              o.float("top_p", 1),
		RepetitionPenalty: o.float("repetition_penalty", 1),
		MaxLength:         o.int("max_length", 20),
		MaxNewTokens:      o.int("max_new_tokens", 0),
	}
	return g, o.err
}

// TokenizerConfig is what webpeft uses from tokenizer_config.json (the
// vocabulary itself is in tokenizer.json, read by engine/tokenizer).
type TokenizerConfig struct {
	TokenizerClass string // e.g. "GPT2Tokenizer", "LlamaTokenizer"

	// Special tokens as text; "" when absent or null.
	BOSToken, EOSToken, PADToken, UNKToken string

	// AddBOSToken / AddEOSToken: whether encoding prepends BOS / appends
	// EOS. nil when the file does not say: the tokenizer class decides
	// (LlamaTokenizer adds BOS, GPT2Tokenizer does not).
	AddBOSToken, AddEOSToken *bool

	// ChatTemplate is the Jinja chat template ("default" when the file
	// names several); ChatTemplates holds all named ones (nil when the
	// file has a single unnamed template).
	ChatTemplate  string
	ChatTemplates map[string]string
}

// ParseTokenizerConfig parses a tokenizer_config.json.
func ParseTokenizerConfig(data []byte) (*TokenizerConfig, error) {
	o, err := parseObject("tokenizer_config.json", data)
	if err != nil {
		return nil, err
	}
	t := &TokenizerConfig{
		TokenizerClass: o.string("tokenizer_class", ""),
		BOSToken:       o.token("bos_token"),
		EOSToken:       o.token("eos_token"),
		PADToken:       o.token("pad_token"),
		UNKToken:       o.token("unk_token"),
		AddBOSToken:    o.optBool("add_bos_token"),
		AddEOSToken:    o.optBool("add_eos_token"),
	}
	t.ChatTemplate, t.ChatTemplates = o.chatTemplates("chat_template")
	return t, o.err
}

// token reads a special token written either as its text or as an
// AddedToken object {"content": "<s>", ...}.
func (o *object) token(key string) string {
	if !o.has(key) {
		return ""
	}
	var s string
	if json.Unmarshal(o.m[key], &s) == nil {
		return s
	}
	var added struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(o.m[key], &added); err != nil || added.Content == nil {
		o.fail(key, "want a token string or {\"content\": ...}, got %.40s", o.m[key])
		return ""
	}
	return *added.Content
}

func (o *object) optBool(key string) *bool {
	if !o.has(key) {
		return nil
	}
	v := o.bool(key, false)
	return &v
}

// chatTemplates reads chat_template: one string, or a list of
// {"name": ..., "template": ...} from which "default" is the main one.
func (o *object) chatTemplates(key string) (string, map[string]string) {
	if !o.has(key) {
		return "", nil
	}
	var one string
	if json.Unmarshal(o.m[key], &one) == nil {
		return one, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(o.m[key], &named); err != nil {
		o.fail(key, "want a template string or a list of {\"name\", \"template\"}: %v", err)
		return "", nil
	}
	all := map[string]string{}
	for _, n := range named {
		if _, dup := all[n.Name]; dup {
			o.fail(key, "template %q given twice", n.Name)
			return "", nil
		}
		all[n.Name] = n.Template
	}
	return all["default"], all
}
