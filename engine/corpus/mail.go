package corpus

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// messageText returns a message's subject and the text of its body, both
// whitespace-collapsed: the first text/plain part (the first text/html
// one, tags removed, when there is none), transfer encoding undone and
// bytes that are not UTF-8 read as Windows-1252, the charset nearly
// every non-UTF-8 message of the corpus declares. A message net/mail
// cannot parse is read as headers, a blank line and the body.
func messageText(raw []byte) (subject, body string) {
	// The corpus keeps each message's mbox "From " line.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return fallbackText(raw)
	}
	subject = collapse(decodeHeader(msg.Header.Get("Subject")))
	text, _ := partText(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	return subject, collapse(text)
}

// fallbackText splits a message at its first blank line and finds the
// Subject line in the headers.
func fallbackText(raw []byte) (subject, body string) {
	s := strings.ReplaceAll(toUTF8(raw), "\r\n", "\n")
	head, rest, _ := strings.Cut(s, "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if len(line) > 8 && strings.EqualFold(line[:8], "subject:") {
			subject = decodeHeader(strings.TrimSpace(line[8:]))
			break
		}
	}
	return collapse(subject), collapse(rest)
}

// decodeHeader undoes RFC 2047 encoded words; a header it cannot decode
// is kept as it is.
func decodeHeader(h string) string {
	d := mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		return strings.NewReader(toUTF8(b)), err
	}}
	if s, err := d.DecodeHeader(h); err == nil {
		return s
	}
	return toUTF8([]byte(h))
}

// maxPart bounds the bytes read from one MIME part; prompts use the first
// few hundred characters.
const maxPart = 1 << 20

// partText returns the text of a MIME entity: itself when it is text, or
// its best part when it is multipart. html reports that the text came from
// HTML (a plain-text alternative wins over it).
func partText(h textproto.MIMEHeader, r io.Reader, depth int) (text string, html bool) {
	ctype := h.Get("Content-Type")
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt, params = "text/plain", nil // a broken header usually still means text
	}
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < 5:
		return multipartText(multipart.NewReader(r, params["boundary"]), depth)
	case mt == "text/plain" || mt == "text/html":
		b, _ := io.ReadAll(io.LimitReader(r, maxPart))
		s := toUTF8(undoTransfer(b, h.Get("Content-Transfer-Encoding")))
		if mt == "text/html" {
			return stripHTML(s), true
		}
		return s, false
	}
	return "", false
}

// multipartText picks the first plain-text part, else the first HTML one.
func multipartText(mr *multipart.Reader, depth int) (string, bool) {
	var fromHTML string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break // the end, or a broken part: keep what was found
		}
		text, isHTML := partText(p.Header, p, depth+1)
		if strings.TrimSpace(text) == "" {
			continue
		}
		if !isHTML {
			return text, false
		}
		if fromHTML == "" {
			fromHTML = text
		}
	}
	return fromHTML, fromHTML != ""
}

// undoTransfer decodes base64 and quoted-printable bodies (multipart's
// reader already decodes quoted-printable parts and drops their header).
func undoTransfer(b []byte, encoding string) []byte {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, b)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, _ := base64.StdEncoding.Decode(out, clean)
		return out[:n]
	case "quoted-printable":
		out, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		return out
	}
	return b
}

// cp1252 holds the printable characters Windows-1252 puts at 0x80-0x9f
// (0 where it has none).
var cp1252 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

// toUTF8 keeps valid UTF-8 as it is and reads anything else as
// Windows-1252 (a superset of ISO-8859-1's printable characters).
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xa0:
			if r := cp1252[c-0x80]; r != 0 {
				sb.WriteRune(r)
			}
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}

// stripHTML reduces HTML to its text: tags become spaces, comments,
// <script> and <style> elements go, entities are decoded.
func stripHTML(s string) string {
	var sb strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			sb.WriteString(s)
			break
		}
		sb.WriteString(s[:i])
		s = s[i:]
		lower := strings.ToLower(s[:min(len(s), 8)])
		var end string
		switch {
		case strings.HasPrefix(lower, "<!--"):
			end = "-->"
		case strings.HasPrefix(lower, "<script"):
			end = "</script>"
		case strings.HasPrefix(lower, "<style"):
			end = "</style>"
		default:
			end = ">"
		}
		j := indexFold(s, end)
		if j < 0 {
			break
		}
		s = s[j+len(end):]
		sb.WriteByte(' ')
	}
	return html.UnescapeString(sb.String())
}

// indexFold is strings.Index with ASCII letters of s matched in any case
// (sub is lower case).
func indexFold(s, sub string) int {
	if len(sub) == 1 {
		return strings.IndexByte(s, sub[0])
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
