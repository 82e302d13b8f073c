package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteTensor is one tensor to write: Data holds its elements row-major and
// little-endian, len(Data) == product(Shape) * DType.Size().
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Write writes tensors and metadata (nil: no "__metadata__" key) as a
// safetensors file with the bytes the Python/Rust library writes for them:
// tensors laid out by descending dtype alignment, then by name; compact
// JSON in that order (metadata first, its keys sorted, since the library's
// own order is a hash map's); the header padded with spaces to a multiple
// of 8 bytes so every tensor starts aligned.
func Write(w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	if err := checkWrite(tensors, metadata); err != nil {
		return err
	}
	order := writeOrder(tensors)
	js := headerJSON(tensors, order, metadata)
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(js)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: writing the header: %w", err)
	}
	if _, err := w.Write(js); err != nil {
		return fmt.Errorf("safetensors: writing the header: %w", err)
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", tensors[i].Name, err)
		}
	}
	return nil
}

// checkWrite refuses what a reader would refuse: unknown dtypes, sizes that
// do not match shapes, duplicate or reserved names, strings that are not
// UTF-8 (JSON cannot hold them).
func checkWrite(tensors []WriteTensor, metadata map[string]string) error {
	seen := map[string]bool{}
	for _, t := range tensors {
		switch {
		case t.Name == metadataKey:
			return fmt.Errorf("safetensors: %q is reserved and cannot name a tensor", metadataKey)
		case seen[t.Name]:
			return fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("safetensors: tensor name %q is not UTF-8", t.Name)
		}
		seen[t.Name] = true
		if _, _, ok := t.DType.lookup(); !ok {
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		info := TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape, End: int64(len(t.Data))}
		if len(t.Shape) > maxDims {
			return fmt.Errorf("safetensors: tensor %q has %d dimensions, over the %d readers accept", t.Name, len(t.Shape), maxDims)
		}
		if err := checkSize(&info); err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("safetensors: metadata %q: %q is not UTF-8", k, v)
		}
	}
	return nil
}

// writeOrder returns the indices of tensors in file order: descending
// position in dtypeTable (the library's "alignment" order), then name.
func writeOrder(tensors []WriteTensor) []int {
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ra, _, _ := tensors[a].DType.lookup()
		rb, _, _ := tensors[b].DType.lookup()
		if ra != rb {
			return rb - ra
		}
		return strings.Compare(tensors[a].Name, tensors[b].Name)
	})
	return order
}

// headerJSON renders the header as serde_json's compact output would, and
// pads it with spaces to a multiple of 8 bytes.
func headerJSON(tensors []WriteTensor, order []int, metadata map[string]string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if metadata != nil {
		writeString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, k)
			b.WriteByte(':')
			writeString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	var offset int64
	for n, i := range order {
		t := tensors[i]
		if n > 0 || metadata != nil {
			b.WriteByte(',')
		}
		writeString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		end := offset + int64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// writeString writes s as a JSON string escaped exactly as serde_json
// does: quote, backslash and control characters only (short forms where
// JSON has them, else \u00xx in lowercase hex); everything else, '<', '>',
// '&', U+2028 and all non-ASCII included, as is.
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
