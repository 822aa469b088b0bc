// Package web serves the browser side of classgate: the client library
// (classgate.js, an ES module with JSDoc types and classgate.d.ts) and the
// classroom page (index.html, app.js, app.css), embedded in the binary
// (package embed). There is no build step: at start the JavaScript, CSS and
// HTML under static/ are minified (tdewolff/minify) and gzipped once.
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
// Responses carry a strong ETag (a hash of the content). The page loads
// app.js and app.css, and app.js the client, through URLs carrying their
// content hash (?v=<hash>); those responses are cacheable for
// ImmutableMaxAge, everything else is "Cache-Control: no-cache"
// (revalidated, 304 while the binary is unchanged). Clients that accept
// gzip get the files gzipped (their own ETag, "Vary: Accept-Encoding").
// The page itself expects the gateway's dev-mode token endpoint (GET
// /dev/token) unless it is opened with ?token=; see README.md.
//
// The JavaScript client is tested with `node --test` (js_test.go) and the
// page in headless Chromium against a real gateway (e2e_test.go).
package web
