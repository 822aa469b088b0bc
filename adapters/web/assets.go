package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tdewolff/minify/v2"
	"github.com/tdewolff/minify/v2/css"
	"github.com/tdewolff/minify/v2/html"
	"github.com/tdewolff/minify/v2/js"
)

// ImmutableMaxAge is the Cache-Control max-age (seconds, one year) of an
// asset requested with its current version (?v=<hash>): that URL's content
// never changes, so browsers keep it without revalidating. Other requests,
// the page itself included, get "no-cache" (revalidated by ETag).
const ImmutableMaxAge = 365 * 24 * 3600

// asset is one served file, ready to serve, plain and gzipped.
type asset struct {
	name    string
	ctype   string
	version string // hash of body: the ?v= that makes a request immutable
	etag    string
	body    []byte
	gzEtag  string
	gz      []byte // nil when gzip does not make it smaller
	srcSize int    // size of the embedded source, before minifying
}

// versioned lists, in dependency order, the files whose URLs the page
// references with ?v=<version> (index.html loads app.js and app.css;
// app.js imports classgate.js), and the text naming each in its referrer.
var versioned = []struct {
	file, referrer, ref string
}{
	{"static/classgate.js", "static/app.js", "'./classgate.js'"},
	{"static/app.js", "static/index.html", `"/app.js"`},
	{"static/app.css", "static/index.html", `"/app.css"`},
}

// newMinifier returns the minifier of the served types: JavaScript, CSS
// and HTML (the .d.ts is served as written: it is documentation for
// TypeScript users).
func newMinifier() *minify.M {
	m := minify.New()
	m.Add("text/javascript", &js.Minifier{})
	m.Add("text/css", &css.Minifier{})
	// Quotes, end and document tags kept: the page stays readable in "view
	// source", and the HTML minifier minifies nothing else of ours.
	m.Add("text/html", &html.Minifier{KeepDocumentTags: true, KeepQuotes: true, KeepEndTags: true})
	return m
}

// buildAssets reads the embedded files, points the page's references at
// their versioned URLs, minifies JavaScript, CSS and HTML, and gzips the
// result. It always returns every asset: a file the minifier cannot handle
// is served as written and reported in the error (TestAssetsAreMinified
// turns that into a failure).
func buildAssets() (map[string]*asset, error) {
	src := map[string][]byte{}
	ctypes := map[string]string{}
	for _, r := range routes {
		if _, ok := src[r.file]; ok {
			continue
		}
		b, err := files.ReadFile(r.file)
		if err != nil {
			// The embed directive guarantees the files exist.
			panic(fmt.Sprintf("web: embedded %s missing: %v", r.file, err))
		}
		src[r.file], ctypes[r.file] = b, r.ctype
	}
	built := map[string]*asset{}
	m := newMinifier()
	var errs []string
	build := func(file string) *asset {
		if a, ok := built[file]; ok {
			return a
		}
		body := src[file]
		if mt := mediaType(ctypes[file]); mt != "application/typescript" {
			if min, err := m.Bytes(mt, body); err != nil {
				errs = append(errs, fmt.Sprintf("minify %s: %v", file, err))
			} else {
				body = min
			}
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:12])
		a := &asset{name: file, ctype: ctypes[file], version: hash[:16], etag: `"` + hash + `"`, body: body, srcSize: len(src[file])}
		if gz := gzipped(body); len(gz) < len(body) {
			// Another representation, another ETag (RFC 9110 §8.8.3).
			a.gz, a.gzEtag = gz, `"`+hash+`-gz"`
		}
		built[file] = a
		return a
	}
	for _, v := range versioned {
		a := build(v.file)
		ref := strings.TrimSuffix(v.ref, v.ref[len(v.ref)-1:]) + "?v=" + a.version + v.ref[len(v.ref)-1:]
		if !bytes.Contains(src[v.referrer], []byte(v.ref)) {
			errs = append(errs, fmt.Sprintf("%s does not reference %s", v.referrer, v.ref))
			continue
		}
		src[v.referrer] = bytes.ReplaceAll(src[v.referrer], []byte(v.ref), []byte(ref))
	}
	out := make(map[string]*asset, len(routes))
	for path, r := range routes {
		out[path] = build(r.file)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("web: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// mediaType is ctype without its parameters ("text/css").
func mediaType(ctype string) string {
	mt, _, _ := strings.Cut(ctype, ";")
	return strings.TrimSpace(mt)
}
