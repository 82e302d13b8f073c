// Package serve is webpeft's static file server for site/: correct MIME
// types (application/wasm, so browsers can compile while downloading),
// gzip for text and wasm, no caching while developing, and the
// cross-origin isolation headers that threads and precise timers need.
package serve

import (
	"compress/gzip"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
)

// Handler serves the files of site.
func Handler(site fs.FS) http.Handler {
	files := http.FileServerFS(site)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("X-Content-Type-Options", "nosniff")
		if t := contentType(r.URL.Path); t != "" {
			h.Set("Content-Type", t)
		}
		if compressible(r.URL.Path) && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			h.Add("Vary", "Accept-Encoding")
			gz := gzip.NewWriter(w)
			defer gz.Close()
			w = gzipWriter{ResponseWriter: w, w: gz}
		}
		files.ServeHTTP(w, r)
	})
}

// contentType names the types browsers are strict about first: they refuse
// to stream-compile wasm or run module scripts served with the wrong type,
// and some systems' mime tables lack them.
func contentType(p string) string {
	switch path.Ext(p) {
	case ".wasm":
		return "application/wasm"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".webmanifest":
		return "application/manifest+json"
	}
	return mime.TypeByExtension(path.Ext(p))
}

func compressible(p string) bool {
	switch path.Ext(p) {
	case ".wasm", ".js", ".css", ".html", ".json", ".wgsl", ".svg", ".webmanifest", "":
		return true
	}
	return strings.HasSuffix(p, "/")
}

// gzipWriter compresses the body; Content-Length from the file server is
// dropped because it describes the uncompressed file.
type gzipWriter struct {
	http.ResponseWriter
	w io.Writer
}

func (g gzipWriter) Write(b []byte) (int, error) { return g.w.Write(b) }

func (g gzipWriter) WriteHeader(code int) {
	g.Header().Del("Content-Length")
	g.ResponseWriter.WriteHeader(code)
}

// Listen binds addr (e.g. "127.0.0.1:8080"; port 0 picks a free one) and
// returns the listener and the URL to open.
func Listen(addr string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return ln, "http://" + ln.Addr().String() + "/", nil
}
