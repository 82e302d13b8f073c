package train

import (
	"encoding/json"
	"fmt"
	"strings"
)

// EvalText is the text an evaluation scores: a .txt file whole, or the
// texts of a .jsonl file's records joined by newlines ({"text"}, or
// prompt+completion), naming the first broken line. name is the file's
// name (only its .jsonl suffix matters) and prefixes errors.
func EvalText(raw []byte, name string) (string, error) {
	if !strings.HasSuffix(name, ".jsonl") {
		return string(raw), nil
	}
	var parts []string
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec struct {
			Text       *string `json:"text"`
			Prompt     *string `json:"prompt"`
			Completion *string `json:"completion"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return "", fmt.Errorf("%s:%d: %v", name, i+1, err)
		}
		switch {
		case rec.Text != nil:
			parts = append(parts, *rec.Text)
		case rec.Prompt != nil && rec.Completion != nil:
			parts = append(parts, *rec.Prompt+*rec.Completion)
		default:
			return "", fmt.Errorf(`%s:%d: want {"text": ...} or {"prompt": ..., "completion": ...}`, name, i+1)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("%s: no records", name)
	}
	return strings.Join(parts, "\n"), nil
}
