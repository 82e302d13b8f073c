package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// metadataKey is the header's one key that is not a tensor.
const metadataKey = "__metadata__"

// maxDims bounds a shape's rank. The format sets no limit; NumPy's is 64,
// and a tensor needing more is surely a hostile header.
const maxDims = 64

// header is the parsed JSON header, offsets still relative to the data
// section and not yet checked against each other.
type header struct {
	metadata map[string]string
	tensors  []TensorInfo
}

// parseHeader reads the JSON object that follows the length prefix. It
// walks tokens instead of unmarshalling into a map because the format
// forbids duplicate keys and encoding/json would silently keep the last.
func parseHeader(js []byte) (*header, error) {
	if len(js) == 0 || js[0] != '{' {
		return nil, errors.New("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	h := &header{}
	err := readObject(dec, "header", func(key string) error {
		if key == metadataKey {
			m, err := readStringMap(dec)
			h.metadata = m
			return err
		}
		t, err := readTensorInfo(dec, key)
		h.tensors = append(h.tensors, t)
		return err
	})
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("header JSON ends early (%w)", err)
	}
	if err != nil {
		return nil, err
	}
	// Only the padding (whitespace) may follow the object.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("header has data after its JSON object")
	}
	return h, nil
}

// readObject reads one JSON object, calling field for each key with the
// decoder positioned at the key's value, and refuses duplicate keys.
func readObject(dec *json.Decoder, what string, field func(key string) error) error {
	if err := expectDelim(dec, '{', what); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%s: key is %v, not a string", what, tok)
		}
		if seen[key] {
			return fmt.Errorf("%s: duplicate key %q", what, key)
		}
		seen[key] = true
		if err := field(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}', what)
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%s: got %v, want %q", what, tok, want)
	}
	return nil
}

// readStringMap reads "__metadata__": an object of strings, or null.
func readStringMap(dec *json.Decoder) (map[string]string, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", metadataKey, err)
	}
	if string(raw) == "null" {
		return nil, nil
	}
	sub := json.NewDecoder(bytes.NewReader(raw))
	m := map[string]string{}
	err := readObject(sub, metadataKey, func(key string) error {
		tok, err := sub.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", metadataKey, err)
		}
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%s[%q] is %v; metadata values must be strings", metadataKey, key, tok)
		}
		m[key] = s
		return nil
	})
	return m, err
}

// readTensorInfo reads {"dtype": ..., "shape": [...], "data_offsets": [b, e]}.
// Unknown keys are skipped, as the reference implementation does.
func readTensorInfo(dec *json.Decoder, name string) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	what := fmt.Sprintf("tensor %q", name)
	var offsets []int64
	var haveShape bool
	err := readObject(dec, what, func(key string) error {
		var err error
		switch key {
		case "dtype":
			err = readDType(dec, what, &t.DType)
		case "shape":
			t.Shape, err = readInts(dec, what+" shape", maxDims)
			haveShape = true
		case "data_offsets":
			offsets, err = readInts(dec, what+" data_offsets", 2)
		default:
			err = dec.Decode(new(json.RawMessage))
		}
		return err
	})
	switch {
	case err != nil:
		return t, err
	case t.DType == "":
		return t, fmt.Errorf("%s has no dtype", what)
	case !haveShape:
		return t, fmt.Errorf("%s has no shape", what)
	case len(offsets) != 2:
		return t, fmt.Errorf("%s: data_offsets must be [begin, end], got %d numbers", what, len(offsets))
	}
	t.Begin, t.End = offsets[0], offsets[1]
	return t, nil
}

func readDType(dec *json.Decoder, what string, d *DType) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s dtype: %w", what, err)
	}
	s, ok := tok.(string)
	if !ok {
		return fmt.Errorf("%s: dtype is %v, not a string", what, tok)
	}
	if _, _, known := DType(s).lookup(); !known {
		return fmt.Errorf("%s: unknown dtype %q", what, s)
	}
	*d = DType(s)
	return nil
}

// readInts reads an array of at most max non-negative integers that fit in
// an int64. Fractions, exponents and signs are refused, as serde_json does
// for usize.
func readInts(dec *json.Decoder, what string, max int) ([]int64, error) {
	if err := expectDelim(dec, '[', what); err != nil {
		return nil, err
	}
	out := []int64{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: %v is not a number", what, tok)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || v < 0 || num[0] == '-' {
			return nil, fmt.Errorf("%s: %s is not a non-negative integer below 2^63", what, num)
		}
		if len(out) == max {
			return nil, fmt.Errorf("%s has more than %d entries", what, max)
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']', what)
}

// checkLayout checks tensors (sorted by offset) against a data section of
// dataLen bytes: each one's byte count matches its shape and dtype, and
// together they cover the section exactly, with no overlap and no hole
// (the format requires this so a file cannot hide a second file inside).
func checkLayout(tensors []TensorInfo, dataLen int64) error {
	var end int64
	prev := "the start of the data section"
	for i := range tensors {
		t := &tensors[i]
		if err := checkSize(t); err != nil {
			return err
		}
		if t.Begin != end {
			return fmt.Errorf("tensor %q starts at data offset %d but %s ends at %d (tensors must be contiguous, with no overlap or gap)",
				t.Name, t.Begin, prev, end)
		}
		end, prev = t.End, fmt.Sprintf("tensor %q", t.Name)
	}
	if end != dataLen {
		return fmt.Errorf("tensors cover %d bytes of the %d-byte data section", end, dataLen)
	}
	return nil
}

// checkSize checks that t's offsets hold exactly its shape's elements.
func checkSize(t *TensorInfo) error {
	if t.End < t.Begin {
		return fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", t.Name, t.Begin, t.End)
	}
	n, err := elements(t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	_, bits, _ := t.DType.lookup()
	if n > math.MaxInt64/bits {
		return fmt.Errorf("tensor %q: %v elements of %s overflow a 64-bit size", t.Name, t.Shape, t.DType)
	}
	if n*bits%8 != 0 {
		return fmt.Errorf("tensor %q: %d elements of %s are not a whole number of bytes", t.Name, n, t.DType)
	}
	if want := n * bits / 8; t.End-t.Begin != want {
		return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d",
			t.Name, t.Shape, t.DType, want, t.Begin, t.End, t.End-t.Begin)
	}
	return nil
}

// elements multiplies the dimensions left to right, failing on the first
// overflow as the reference implementation does (even if a later dimension
// is 0), so every prefix product of an accepted shape fits in an int64.
func elements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v overflows a 64-bit element count", shape)
		}
		n *= d
	}
	return n, nil
}
