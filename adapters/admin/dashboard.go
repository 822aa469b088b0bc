package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// dashboard serves the operator page at /admin/ and its script and style
// at /admin/static/. These files hold no data and need no token: the page
// asks the operator for the token and sends it as a bearer token on its
// own requests (kept in the tab's sessionStorage only).
func dashboard() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/admin/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/admin/" {
			b, err := fs.ReadFile(sub, "index.html")
			if err != nil {
				http.Error(w, "dashboard missing", http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(b)
			return
		}
		files.ServeHTTP(w, r)
	})
}
