package web

import (
	"bytes"
	"compress/gzip"
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
		{"/", "text/html; charset=utf-8", `<script type="module" src="/app.js?v=`},
		{"/classgate.js", "text/javascript; charset=utf-8", "export class Client"},
		{"/classgate.d.ts", "application/typescript; charset=utf-8", "export declare class Client"},
		{"/app.js", "text/javascript; charset=utf-8", `from"./classgate.js?v=`},
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

func TestStaticCompressesForClientsThatAcceptGzip(t *testing.T) {
	h := Static()
	plain := httptest.NewRecorder()
	h.ServeHTTP(plain, httptest.NewRequest(http.MethodGet, "/classgate.js", nil))
	cases := []struct {
		name, accept string
		gzip         bool
	}{
		{"none", "", false},
		{"gzip", "gzip", true},
		{"browser", "gzip, deflate, br, zstd", true},
		{"refused", "gzip;q=0, identity", false},
		{"star", "*;q=0.5", true},
		{"other", "br", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/classgate.js", nil)
			if c.accept != "" {
				req.Header.Set("Accept-Encoding", c.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Header().Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary = %q", rec.Header().Get("Vary"))
			}
			gotGzip := rec.Header().Get("Content-Encoding") == "gzip"
			if gotGzip != c.gzip {
				t.Fatalf("Accept-Encoding %q: gzip %v, want %v", c.accept, gotGzip, c.gzip)
			}
			body := rec.Body.Bytes()
			if gotGzip {
				if len(body) >= plain.Body.Len()/2 {
					t.Errorf("gzipped %d bytes of %d: expected at least halved", len(body), plain.Body.Len())
				}
				if rec.Header().Get("ETag") == plain.Header().Get("ETag") {
					t.Error("the gzipped representation shares the plain one's ETag")
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, plain.Body.Bytes()) {
				t.Error("the decoded body differs from the plain one")
			}
			// Revalidation works for this representation too.
			req2 := httptest.NewRequest(http.MethodGet, "/classgate.js", nil)
			req2.Header.Set("Accept-Encoding", c.accept)
			req2.Header.Set("If-None-Match", rec.Header().Get("ETag"))
			rec2 := httptest.NewRecorder()
			h.ServeHTTP(rec2, req2)
			if rec2.Code != http.StatusNotModified {
				t.Errorf("conditional GET: %d, want 304", rec2.Code)
			}
		})
	}
}
