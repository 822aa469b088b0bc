package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStaticServesEmbeddedFiles(t *testing.T) {
	srv := httptest.NewServer(Static())
	defer srv.Close()

	cases := []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/app.js">`},
		{"/classgate.js", "text/javascript; charset=utf-8", "export class Client"},
		{"/classgate.d.ts", "application/typescript; charset=utf-8", "export declare class Client"},
		{"/app.js", "text/javascript; charset=utf-8", "from './classgate.js'"},
		{"/app.css", "text/css; charset=utf-8", "#board"},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", c.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if !strings.Contains(string(body), c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		if resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", c.path)
		}
	}
}

func TestStaticRevalidatesWithETag(t *testing.T) {
	srv := httptest.NewServer(Static())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/classgate.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/classgate.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: status %d, want 304", resp2.StatusCode)
	}
}

func TestStaticRejectsOtherPathsAndMethods(t *testing.T) {
	h := Static()
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/classgate.test.mjs", http.StatusNotFound},
		{http.MethodGet, "/static/app.js", http.StatusNotFound},
		{http.MethodGet, "/../go.mod", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodHead, "/app.css", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, rec.Code, c.want)
		}
	}
}

func TestPageHasSecurityHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	Static().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Error("the page may carry a token in its URL: it must not leak it as a referrer")
	}
}
