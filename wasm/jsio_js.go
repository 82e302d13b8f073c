//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/hack-pad/safejs"
)

// await waits for a JS promise on the calling goroutine (never a js.FuncOf
// callback: the event loop must stay free to settle the promise).
func await(p safejs.Value) (safejs.Value, error) {
	type result struct {
		v   safejs.Value
		err error
	}
	ch := make(chan result, 1)
	ok, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		ch <- result{v: arg(args, 0)}
		return nil
	})
	if err != nil {
		return safejs.Undefined(), err
	}
	defer ok.Release()
	fail, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		ch <- result{err: jsError(arg(args, 0))}
		return nil
	})
	if err != nil {
		return safejs.Undefined(), err
	}
	defer fail.Release()
	if _, err := p.Call("then", ok.Value(), fail.Value()); err != nil {
		return safejs.Undefined(), err
	}
	r := <-ch
	return r.v, r.err
}

func arg(args []safejs.Value, i int) safejs.Value {
	if i < len(args) {
		return args[i]
	}
	return safejs.Undefined()
}

// jsError turns a rejection reason into a Go error with its message.
func jsError(v safejs.Value) error {
	if v.Type() == safejs.TypeObject {
		if m, err := v.Get("message"); err == nil && m.Type() == safejs.TypeString {
			s, _ := m.String()
			return errors.New(s)
		}
	}
	if v.Type() == safejs.TypeString {
		s, _ := v.String()
		return errors.New(s)
	}
	s, err := v.Call("toString")
	if err == nil {
		str, _ := s.String()
		return errors.New(str)
	}
	return errors.New("a JavaScript call failed")
}

// promiseOf runs f on a new goroutine and returns a JS Promise of its
// result. A panic in f rejects the promise with its message instead of
// killing the engine, so the page never waits for ever.
func promiseOf(f func() (any, error)) any {
	ctor, _ := safejs.Global().Get("Promise")
	executor, _ := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Printf("webpeft: panic: %v\n%s", r, debug.Stack())
					reject.Invoke(fmt.Sprintf("the engine failed: %v", r))
				}
			}()
			v, err := f()
			if err != nil {
				reject.Invoke(err.Error())
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p, err := ctor.New(executor.Value())
	if err != nil {
		return err.Error()
	}
	return p
}

// newBytes copies b into a new Uint8Array.
func newBytes(b []byte) (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return safejs.Undefined(), err
	}
	u8, err := ctor.New(len(b))
	if err != nil {
		return safejs.Undefined(), err
	}
	_, err = safejs.CopyBytesToJS(u8, b)
	return u8, err
}

// bytesOf copies an ArrayBuffer or typed array into Go.
func bytesOf(v safejs.Value) ([]byte, error) {
	ctor, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return nil, err
	}
	u8, err := ctor.New(v)
	if err != nil {
		return nil, err
	}
	n, err := u8.Length()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err = safejs.CopyBytesToGo(b, u8)
	return b, err
}

// blobReader is an io.ReaderAt over a JS Blob (a File the user picked):
// each ReadAt awaits blob.slice(off, off+n).arrayBuffer(), so only the
// bytes the loader asks for enter wasm memory.
type blobReader struct {
	blob safejs.Value
	size int64
}

func newBlobReader(blob safejs.Value) (*blobReader, error) {
	s, err := blob.Get("size")
	if err != nil {
		return nil, err
	}
	size, err := s.Float()
	if err != nil {
		return nil, fmt.Errorf("not a Blob or File: %w", err)
	}
	return &blobReader{blob: blob, size: int64(size)}, nil
}

func (b *blobReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob: negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), b.size)
	slice, err := b.blob.Call("slice", float64(off), float64(end))
	if err != nil {
		return 0, err
	}
	pr, err := slice.Call("arrayBuffer")
	if err != nil {
		return 0, err
	}
	buf, err := await(pr)
	if err != nil {
		return 0, fmt.Errorf("reading the file: %w", err)
	}
	u8, err := uint8Array(buf)
	if err != nil {
		return 0, err
	}
	n, err := safejs.CopyBytesToGo(p, u8)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func uint8Array(buf safejs.Value) (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return safejs.Undefined(), err
	}
	return ctor.New(buf)
}

// urlReader is an io.ReaderAt over a URL, read with HTTP Range requests
// in aligned blocks (the last few are kept, since the GGUF reader reads
// its header in small pieces and tensors in order). headers go with
// every request (e.g. an Authorization token).
type urlReader struct {
	url     string
	headers map[string]any
	size    int64

	mu     sync.Mutex
	blocks map[int64][]byte
	order  []int64
	// fetched counts the bytes downloaded, for progress.
	fetched int64
}

const (
	urlBlock  = 4 << 20
	urlBlocks = 4
)

// fetchJS calls fetch(url, init) and awaits the response.
func fetchJS(url string, init map[string]any) (safejs.Value, error) {
	fetch, err := safejs.Global().Get("fetch")
	if err != nil {
		return safejs.Undefined(), err
	}
	p, err := fetch.Invoke(url, init)
	if err != nil {
		return safejs.Undefined(), err
	}
	resp, err := await(p)
	if err != nil {
		return safejs.Undefined(), fmt.Errorf("fetching %s: %w (is the address right, and does the server allow cross-origin requests?)", url, err)
	}
	return resp, nil
}

func respStatus(resp safejs.Value) int {
	s, _ := resp.Get("status")
	n, _ := s.Int()
	return n
}

func respHeader(resp safejs.Value, name string) string {
	h, err := resp.Get("headers")
	if err != nil {
		return ""
	}
	v, err := h.Call("get", name)
	if err != nil || v.Type() != safejs.TypeString {
		return ""
	}
	s, _ := v.String()
	return s
}

func newURLReader(url string, headers map[string]any) (*urlReader, error) {
	r := &urlReader{url: url, headers: headers, blocks: map[int64][]byte{}}
	// Ask for the first byte: the answer's Content-Range names the size,
	// and a 206 proves the server honours ranges.
	h := map[string]any{"Range": "bytes=0-0"}
	for k, v := range headers {
		h[k] = v
	}
	resp, err := fetchJS(url, map[string]any{"headers": h})
	if err != nil {
		return nil, err
	}
	switch st := respStatus(resp); st {
	case 206:
		cr := respHeader(resp, "Content-Range")
		i := strings.LastIndexByte(cr, '/')
		if i < 0 {
			return nil, fmt.Errorf("%s: the server's Content-Range %q does not give the size", url, cr)
		}
		size, err := strconv.ParseInt(strings.TrimSpace(cr[i+1:]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: the server's Content-Range %q does not give the size", url, cr)
		}
		r.size = size
	case 200:
		return nil, fmt.Errorf("%s: the server does not support HTTP Range requests, which webpeft needs to stream a model; download the file and open it from your disk instead", url)
	case 401, 403:
		return nil, fmt.Errorf("%s: access denied (HTTP %d); a gated model needs an access token", url, st)
	default:
		return nil, fmt.Errorf("%s: HTTP %d", url, st)
	}
	if body, err := resp.Get("body"); err == nil && body.Type() == safejs.TypeObject {
		body.Call("cancel")
	}
	return r, nil
}

func (r *urlReader) block(i int64) ([]byte, error) {
	r.mu.Lock()
	b, ok := r.blocks[i]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	start := i * urlBlock
	end := min(start+urlBlock, r.size) - 1
	h := map[string]any{"Range": fmt.Sprintf("bytes=%d-%d", start, end)}
	for k, v := range r.headers {
		h[k] = v
	}
	resp, err := fetchJS(r.url, map[string]any{"headers": h})
	if err != nil {
		return nil, err
	}
	if st := respStatus(resp); st != 206 {
		return nil, fmt.Errorf("%s: bytes %d-%d: HTTP %d (want 206 Partial Content)", r.url, start, end, st)
	}
	pr, err := resp.Call("arrayBuffer")
	if err != nil {
		return nil, err
	}
	buf, err := await(pr)
	if err != nil {
		return nil, fmt.Errorf("%s: download interrupted: %w", r.url, err)
	}
	if b, err = bytesOf(buf); err != nil {
		return nil, err
	}
	if int64(len(b)) != end-start+1 {
		return nil, fmt.Errorf("%s: bytes %d-%d: got %d bytes", r.url, start, end, len(b))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetched += int64(len(b))
	r.blocks[i] = b
	r.order = append(r.order, i)
	if len(r.order) > urlBlocks {
		delete(r.blocks, r.order[0])
		r.order = r.order[1:]
	}
	return b, nil
}

func (r *urlReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("url: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		b, err := r.block(pos / urlBlock)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], b[pos%urlBlock:])
	}
	return n, nil
}

// isArray reports whether v is a JS Array.
func isArray(v safejs.Value) bool {
	ctor, err := safejs.Global().Get("Array")
	if err != nil {
		return false
	}
	ok, err := ctor.Call("isArray", v)
	if err != nil {
		return false
	}
	b, _ := ok.Bool()
	return b
}
