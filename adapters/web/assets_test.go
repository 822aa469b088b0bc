package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAssetsAreMinified: JavaScript, CSS and HTML are served minified (and
// gzipped), the .d.ts as written; nothing fails to minify. The sizes are
// logged (-v) for README.md's table.
func TestAssetsAreMinified(t *testing.T) {
	assets, err := buildAssets()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		maxRatio float64 // served size / source size, at most
	}{
		{"/classgate.js", 0.5},
		{"/app.js", 0.7},
		{"/app.css", 0.9},
		{"/", 0.95},
		{"/classgate.d.ts", 1},
	} {
		a := assets[tc.path]
		src, err := files.ReadFile(a.name)
		if err != nil {
			t.Fatal(err)
		}
		if tc.maxRatio == 1 && string(a.body) != string(src) {
			t.Errorf("%s: served differs from the source, want it as written", tc.path)
		}
		if r := float64(len(a.body)) / float64(len(src)); r > tc.maxRatio {
			t.Errorf("%s: %d of %d bytes (%.2f), want at most %.2f", tc.path, len(a.body), len(src), r, tc.maxRatio)
		}
		if a.gz == nil || len(a.gz) >= len(a.body)/2 {
			t.Errorf("%s: gzip %d of %d bytes, want at least halved", tc.path, len(a.gz), len(a.body))
		}
		t.Logf("%-16s source %6d  minified %6d  gzip %6d", tc.path, len(src), len(a.body), len(a.gz))
	}
	// Comments are gone, the test hooks are not.
	if js := string(assets["/app.js"].body); strings.Contains(js, "@param") || !strings.Contains(js, "classroom") {
		t.Error("app.js: comments kept or test hook lost")
	}
}

// TestVersionedAssetsAreImmutable: the page loads its script and
// stylesheet, and the script the client, through URLs carrying the hash of
// what they serve (?v=); those responses may be cached for a year without
// revalidation, everything else (the page, a plain or outdated URL) is
// revalidated by ETag.
func TestVersionedAssetsAreImmutable(t *testing.T) {
	srv := httptest.NewServer(Static())
	defer srv.Close()
	get := func(path string) (string, http.Header) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b), resp.Header
	}
	immutable := "public, max-age=" + strconv.Itoa(ImmutableMaxAge) + ", immutable"
	page, h := get("/")
	if h.Get("Cache-Control") != "no-cache" {
		t.Errorf("page: Cache-Control %q, want no-cache", h.Get("Cache-Control"))
	}
	refs := regexp.MustCompile(`"(/app\.(?:js|css)\?v=[0-9a-f]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != 2 {
		t.Fatalf("page references %v, want app.js and app.css with ?v=", refs)
	}
	var urls []string
	for _, r := range refs {
		urls = append(urls, r[1])
	}
	appJS, _ := get(urls[0])
	if !strings.HasPrefix(urls[0], "/app.js") {
		appJS, _ = get(urls[1])
	}
	client := regexp.MustCompile(`"\./(classgate\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(appJS)
	if client == nil {
		t.Fatal("app.js does not import ./classgate.js?v=")
	}
	urls = append(urls, "/"+client[1])
	for _, u := range urls {
		body, h := get(u)
		if h.Get("Cache-Control") != immutable {
			t.Errorf("%s: Cache-Control %q, want %q", u, h.Get("Cache-Control"), immutable)
		}
		// The version is the content's hash: new content, new URL.
		sum := sha256.Sum256([]byte(body))
		if v := u[strings.Index(u, "?v=")+3:]; v != hex.EncodeToString(sum[:])[:len(v)] {
			t.Errorf("%s: version is not the hash of the body", u)
		}
		plain := u[:strings.Index(u, "?")]
		for _, other := range []string{plain, plain + "?v=0123456789abcdef"} {
			if _, h := get(other); h.Get("Cache-Control") != "no-cache" {
				t.Errorf("%s: Cache-Control %q, want no-cache", other, h.Get("Cache-Control"))
			}
		}
	}
	if _, h := get("/?v=" + refs[0][1]); h.Get("Cache-Control") != "no-cache" {
		t.Error("the page must always be revalidated")
	}
}

// TestReadmeQuotesCacheLifetime: README.md states ImmutableMaxAge.
func TestReadmeQuotesCacheLifetime(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "max-age=" + strconv.Itoa(ImmutableMaxAge); !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say %s", want)
	}
}

// TestMinifiedClientPassesItsTests runs the client's unit tests
// (classgate.test.mjs) against the minified classgate.js as served, so
// minifying cannot change what the client does.
func TestMinifiedClientPassesItsTests(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: the JavaScript client tests need Node.js >= 20")
	}
	assets, err := buildAssets()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("classgate.js", assets["/classgate.js"].body)
	for _, f := range []string{"package.json", "classgate.test.mjs"} {
		b, err := os.ReadFile(filepath.Join("static", f))
		if err != nil {
			t.Fatal(err)
		}
		write(f, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "classgate.test.mjs")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node --test on the minified client: %v\n%s", err, out)
	}
}
