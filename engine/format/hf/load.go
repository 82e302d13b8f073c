package hf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// The file names transformers' save_pretrained uses.
const (
	ConfigFile           = "config.json"
	GenerationConfigFile = "generation_config.json"
	TokenizerConfigFile  = "tokenizer_config.json"
	ChatTemplateFile     = "chat_template.jinja" // newer transformers keep the template here
)

// maxJSONLen bounds a file read into memory: config files are kilobytes,
// a tokenizer_config.json with every added token a few megabytes.
const maxJSONLen = 64 << 20

// Model is the parsed JSON of a Hugging Face model directory.
type Model struct {
	Config     *Config
	Generation *GenerationConfig // nil without generation_config.json
	Tokenizer  *TokenizerConfig  // nil without tokenizer_config.json
}

// LoadDir reads the model files in the directory dir (native builds).
func LoadDir(dir string) (*Model, error) { return Load(os.DirFS(dir)) }

// Load reads config.json (required), generation_config.json and
// tokenizer_config.json (optional) at the root of fsys. A chat template in
// chat_template.jinja fills in for one missing from tokenizer_config.json.
func Load(fsys fs.FS) (*Model, error) {
	data, err := readFile(fsys, ConfigFile)
	if err != nil {
		return nil, err
	}
	m := &Model{}
	if m.Config, err = ParseConfig(data); err != nil {
		return nil, err
	}
	if data, err = readOptional(fsys, GenerationConfigFile); err == nil && data != nil {
		m.Generation, err = ParseGenerationConfig(data)
	}
	if err != nil {
		return nil, err
	}
	if data, err = readOptional(fsys, TokenizerConfigFile); err == nil && data != nil {
		m.Tokenizer, err = ParseTokenizerConfig(data)
	}
	if err != nil {
		return nil, err
	}
	return m, m.addChatTemplate(fsys)
}

// addChatTemplate reads chat_template.jinja when tokenizer_config.json has
// no template of its own.
func (m *Model) addChatTemplate(fsys fs.FS) error {
	if m.Tokenizer != nil && m.Tokenizer.ChatTemplate != "" {
		return nil
	}
	data, err := readOptional(fsys, ChatTemplateFile)
	if err != nil || data == nil {
		return err
	}
	if m.Tokenizer == nil {
		m.Tokenizer = &TokenizerConfig{}
	}
	m.Tokenizer.ChatTemplate = string(data)
	return nil
}

// readOptional is readFile, with nil data and no error for a missing file.
func readOptional(fsys fs.FS, name string) ([]byte, error) {
	data, err := readFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJSONLen+1))
	if err != nil {
		return nil, fmt.Errorf("hf: reading %s: %w", name, err)
	}
	if len(data) > maxJSONLen {
		return nil, fmt.Errorf("hf: %s is over %d bytes", name, maxJSONLen)
	}
	return data, nil
}
