package serve

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

func TestHandlerTypesAndGzip(t *testing.T) {
	site := fstest.MapFS{
		"main.wasm": {Data: []byte("\x00asm\x01\x00\x00\x00")},
		"runner.js": {Data: []byte("export const x = 1;")},
	}
	srv := httptest.NewServer(Handler(site))
	defer srv.Close()
	for path, want := range map[string]string{"/main.wasm": "application/wasm", "/runner.js": "text/javascript; charset=utf-8"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
	}
	req := httptest.NewRequest("GET", "/main.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	Handler(site).ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatal("wasm was not gzip-compressed")
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if string(body) != "\x00asm\x01\x00\x00\x00" {
		t.Errorf("decompressed body %q", body)
	}
}
