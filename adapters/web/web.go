package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed static/index.html static/app.js static/app.css static/classgate.js static/classgate.d.ts
var files embed.FS

// routes maps URL paths to the embedded files and their content types. The
// types are explicit so that the result does not depend on the host's
// mime.types (which maps .ts to video/mp2t).
var routes = map[string]struct{ file, ctype string }{
	"/":               {"static/index.html", "text/html; charset=utf-8"},
	"/index.html":     {"static/index.html", "text/html; charset=utf-8"},
	"/classgate.js":   {"static/classgate.js", "text/javascript; charset=utf-8"},
	"/classgate.d.ts": {"static/classgate.d.ts", "application/typescript; charset=utf-8"},
	"/app.js":         {"static/app.js", "text/javascript; charset=utf-8"},
	"/app.css":        {"static/app.css", "text/css; charset=utf-8"},
}

// pageCSP is the Content-Security-Policy of the classroom page: its own
// scripts and styles only; WebSocket connections anywhere (the page can be
// pointed at an API Gateway stage URL with ?ws=).
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// Static returns the handler serving the embedded client and classroom page
// (see the package documentation for the paths). It is safe for concurrent
// use and may be called more than once; every handler shares the same
// read-only embedded data.
func Static() http.Handler {
	assets := staticAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		a, ok := assets[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		if v := req.URL.Query().Get("v"); v != "" && v == a.version && a.ctype[:9] != "text/html" {
			h.Set("Cache-Control", "public, max-age="+strconv.Itoa(ImmutableMaxAge)+", immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		body, etag := a.body, a.etag
		if a.gz != nil {
			h.Set("Vary", "Accept-Encoding")
			if acceptsGzip(req.Header.Values("Accept-Encoding")) {
				body, etag = a.gz, a.gzEtag
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if a.ctype[:9] == "text/html" {
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("Referrer-Policy", "no-referrer")
		}
		// ServeContent answers If-None-Match with 304 and handles HEAD and
		// ranges.
		http.ServeContent(w, req, a.name, time.Time{}, bytes.NewReader(body))
	})
}

var (
	assetsOnce sync.Once
	assetsMap  map[string]*asset
)

// staticAssets builds the served files once per process (every Static
// handler shares them; they are read-only). A file that fails to minify is
// served as written: buildAssets still returns every asset with its error,
// and TestAssetsAreMinified fails on that error, so a tested binary has none.
func staticAssets() map[string]*asset {
	assetsOnce.Do(func() { assetsMap, _ = buildAssets() })
	return assetsMap
}

// gzipped compresses b once, at start (the assets are read-only).
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	_, _ = zw.Write(b)                                       // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether Accept-Encoding values allow gzip: a "gzip"
// (or "*") coding whose q is not 0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}
