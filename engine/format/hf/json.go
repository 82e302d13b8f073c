package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// object is one JSON object of a Hugging Face file, read key by key with
// the defaults transformers would use. The first bad value is kept in err
// so a parser reads straight through and checks once at the end.
type object struct {
	file string // "config.json", or "config.json: rope_scaling" for a nested one
	m    map[string]json.RawMessage
	err  error
}

func parseObject(file string, data []byte) (*object, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: want a JSON object, got null", file)
	}
	return &object{file: file, m: m}, nil
}

// has reports whether key is present with a non-null value; transformers
// treats an explicit null like a missing key for everything read here.
func (o *object) has(key string) bool {
	raw, ok := o.m[key]
	return ok && string(raw) != "null"
}

func (o *object) fail(key, format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("%s: %s: %s", o.file, key, fmt.Sprintf(format, args...))
	}
}

// maxInt bounds every integer read, so sizes multiplied together later by
// a careful caller cannot overflow and fuzzed values stay harmless.
const maxInt = math.MaxInt32

// int reads an integer key, def when absent or null.
func (o *object) int(key string, def int) int {
	if !o.has(key) {
		return def
	}
	raw := string(o.m[key])
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		// Python writes integral floats as 2.0 only if the value was a float;
		// accept it, but nothing fractional.
		f, ferr := strconv.ParseFloat(raw, 64)
		if ferr != nil || !isJSONNumber(raw) || f != math.Trunc(f) || math.Abs(f) > maxInt {
			o.fail(key, "want an integer, got %s", raw)
			return def
		}
		v = int64(f)
	}
	if v < -maxInt || v > maxInt {
		o.fail(key, "%d is out of range", v)
		return def
	}
	return int(v)
}

// float reads a number key, def when absent or null.
func (o *object) float(key string, def float64) float64 {
	if !o.has(key) {
		return def
	}
	raw := string(o.m[key])
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || !isJSONNumber(raw) {
		o.fail(key, "want a number, got %s", raw)
		return def
	}
	return v
}

// isJSONNumber rejects what ParseFloat takes but JSON does not ("Inf",
// "0x1p3", quoted strings); a JSON number starts with '-' or a digit and
// has no letters but e/E.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	return true
}

// bool reads a boolean key, def when absent or null.
func (o *object) bool(key string, def bool) bool {
	if !o.has(key) {
		return def
	}
	var v bool
	if err := json.Unmarshal(o.m[key], &v); err != nil {
		o.fail(key, "want true or false, got %s", o.m[key])
		return def
	}
	return v
}

// string reads a string key, def when absent or null.
func (o *object) string(key, def string) string {
	if !o.has(key) {
		return def
	}
	var v string
	if err := json.Unmarshal(o.m[key], &v); err != nil {
		o.fail(key, "want a string, got %.40s", o.m[key])
		return def
	}
	return v
}

// strings reads a list of strings, nil when absent or null.
func (o *object) strings(key string) []string {
	if !o.has(key) {
		return nil
	}
	var v []string
	if err := json.Unmarshal(o.m[key], &v); err != nil {
		o.fail(key, "want a list of strings, got %.40s", o.m[key])
	}
	return v
}

// tokenIDs reads a token id or a list of them (eos_token_id is either);
// def when absent or null.
func (o *object) tokenIDs(key string, def []int) []int {
	if !o.has(key) {
		return def
	}
	raw := o.m[key]
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		if one < 0 { // old LLaMA conversions write pad_token_id -1 for "none"
			return def
		}
		if one > maxInt {
			o.fail(key, "token id %d is out of range", one)
			return def
		}
		return []int{one}
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil || len(many) > 1<<16 {
		o.fail(key, "want a token id or a list of them, got %.40s", raw)
		return def
	}
	for _, id := range many {
		if id < 0 || id > maxInt {
			o.fail(key, "token id %d is out of range", id)
			return def
		}
	}
	return many
}

// tokenID reads a single token id, -1 when absent or null. A list (some
// configs give bos_token_id as one) keeps its first entry.
func (o *object) tokenID(key string, def int) int {
	ids := o.tokenIDs(key, nil)
	if len(ids) == 0 {
		return def
	}
	return ids[0]
}

// sub reads a nested object, nil when absent or null.
func (o *object) sub(key string) *object {
	if !o.has(key) {
		return nil
	}
	s, err := parseObject(o.file+": "+key, o.m[key])
	if err != nil {
		if o.err == nil {
			o.err = err
		}
		return nil
	}
	return s
}
