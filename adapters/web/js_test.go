package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestClientJS runs the JavaScript client's unit tests
// (static/classgate.test.mjs) with `node --test`: reconnect and backoff,
// dedupe, gap → re-join with since, send ack/error/timeout, resend with the
// same id after a reconnect. They use a fake WebSocket and a fake clock, so
// they need nothing but Node.js ≥ 20.
func TestClientJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: the JavaScript client tests need Node.js >= 20")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "static/classgate.test.mjs")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// TestClientJSUnderCommonJSParent runs the client's tests from a copy of
// static/ placed under a package.json with "type": "commonjs": the
// client's own package.json ("type": "module") must make them pass anyway,
// as when the client is vendored into an application.
func TestClientJSUnderCommonJSParent(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: the JavaScript client tests need Node.js >= 20")
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "package.json"), []byte(`{"name":"app","type":"commonjs"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "vendor", "classgate")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "classgate.js", "classgate.d.ts", "classgate.test.mjs"} {
		b, err := os.ReadFile(filepath.Join("static", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An import by the package's name, through its exports map, from a
	// CommonJS-typed .js file's sibling ES module.
	probe := `import { Client, DEFAULTS } from '@classgate/client';
if (typeof Client !== 'function' || !DEFAULTS.pingInterval) throw new Error('bad exports');
console.log('ok');
`
	nm := filepath.Join(root, "node_modules", "@classgate")
	if err := os.MkdirAll(nm, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(nm, "client")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "probe.mjs"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"--test", "vendor/classgate/classgate.test.mjs"}, {"probe.mjs"}} {
		cmd := exec.CommandContext(ctx, node, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node %v under a commonjs package.json: %v\n%s", args, err, out)
		}
	}
}

// TestTypeCheckJS type-checks the client and the page from their JSDoc
// (and classgate.d.ts) with the TypeScript compiler in strict mode, and
// testdata/typecheck.ts, a TypeScript user of the typed event maps. It needs
// `tsc` on PATH or in $CLASSGATE_TSC (e.g. `npm install typescript@5` in any
// directory) and is skipped without it: the project has no npm dependency.
func TestTypeCheckJS(t *testing.T) {
	tsc := os.Getenv("CLASSGATE_TSC")
	if tsc == "" {
		p, err := exec.LookPath("tsc")
		if err != nil {
			t.Skip("tsc not found (set CLASSGATE_TSC or put TypeScript's tsc on PATH) — JSDoc type check skipped")
		}
		tsc = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsc, "--noEmit", "--allowJs", "--checkJs", "--strict",
		"--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler",
		"--lib", "es2022,dom,dom.iterable", "classgate.js", "app.js", "../testdata/typecheck.ts")
	cmd.Dir = "static"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// TestReadmeQuotesClientDefaults checks that the option table in README.md
// quotes classgate.js's DEFAULTS (the one source of the client's timings).
func TestReadmeQuotesClientDefaults(t *testing.T) {
	js, err := os.ReadFile("static/classgate.js")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)export const DEFAULTS = Object\.freeze\(\{(.*?)\}\);`).FindSubmatch(js)
	if block == nil {
		t.Fatal("DEFAULTS not found in classgate.js")
	}
	pairs := regexp.MustCompile(`(\w+):\s*(\d+)`).FindAllSubmatch(block[1], -1)
	if len(pairs) < 5 {
		t.Fatalf("DEFAULTS has %d entries, want the timing options", len(pairs))
	}
	for _, p := range pairs {
		row := fmt.Sprintf("| `%s` | %s |", p[1], p[2])
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks the row %q (DEFAULTS in classgate.js)", row)
		}
	}
}
