// Package web serves the browser side of classgate: the client library
// (classgate.js, an ES module with JSDoc types and classgate.d.ts) and the
// classroom page (index.html, app.js, app.css), embedded in the binary
// (package embed). There is no build step: the files under static/ are served as
// they are.
//
// The gateway mounts Static at "/" next to /ws, /healthz and /readyz:
//
//	mux.Handle("/", web.Static())
//
// Paths served (GET and HEAD only; anything else is 404 or 405):
//
//	/               the classroom page (index.html)
//	/classgate.js   the client module
//	/classgate.d.ts its TypeScript declarations
//	/app.js         the classroom page's script
//	/app.css        its stylesheet
//
// Responses carry a strong ETag (a hash of the content) and
// "Cache-Control: no-cache", so browsers revalidate and get 304 while the
// binary is unchanged. Clients that accept gzip get the files gzipped
// (compressed once, at start; their own ETag, "Vary: Accept-Encoding"). The page itself expects the gateway's dev-mode token
// endpoint (GET /dev/token) unless it is opened with ?token=; see README.md.
//
// The JavaScript client is tested with `node --test` (js_test.go) and the
// page in headless Chromium against a real gateway (e2e_test.go).
package web
