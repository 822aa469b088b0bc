package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// tscArgs are the compiler options of the JSDoc type check: strict, JS
// checked, the browser's and ES2022's libraries.
var tscArgs = []string{"--noEmit", "--allowJs", "--checkJs", "--strict",
	"--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler",
	"--lib", "es2022,dom,dom.iterable"}

// installTSC returns the TypeScript compiler: $CLASSGATE_TSC when set, else
// the one scripts/install-typescript.sh installs (the version
// typescript/package-lock.json pins, cached in ~/.cache/classgate). The
// test is skipped only when node or npm is missing; a failed install fails.
func installTSC(t *testing.T) string {
	t.Helper()
	if tsc := os.Getenv("CLASSGATE_TSC"); tsc != "" {
		return tsc
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found: scripts/install-typescript.sh cannot run — JSDoc type check skipped")
	}
	// The script bounds npm ci itself (300 s); this is the backstop.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", "install-typescript.sh"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 {
		t.Skipf("JSDoc type check skipped: %s", strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		t.Fatalf("scripts/install-typescript.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestTypeCheckJS type-checks the client and the page from their JSDoc
// (and classgate.d.ts) with the TypeScript compiler in strict mode, and
// testdata/typecheck.ts, a TypeScript user of the typed event maps; and
// checks that the same check rejects a misuse of the client's types (so a
// passing check means something). The compiler is installed by
// scripts/install-typescript.sh (npm ci, cached); the test is skipped only
// without node or npm.
func TestTypeCheckJS(t *testing.T) {
	tsc := installTSC(t)
	static, err := filepath.Abs("static")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "misuse.ts")
	misuse := "import { Client } from " + strconv.Quote(filepath.Join(static, "classgate.js")) + ";\n" +
		"const c = new Client({ url: 42 });\n" +
		"c.on('chat.message', (f) => { const n: number = f.data.text; void n; });\n"
	if err := os.WriteFile(bad, []byte(misuse), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		files   []string
		wantErr []string // nil: no error; else each must be in the output
	}{
		{"client, page and typecheck.ts", []string{"classgate.js", "app.js", "../testdata/typecheck.ts"}, nil},
		{"a misuse is reported", []string{bad}, []string{"misuse.ts(2,", "misuse.ts(3,"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, tsc, append(append([]string{}, tscArgs...), tc.files...)...)
			cmd.Dir = "static"
			out, err := cmd.CombinedOutput()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("tsc: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("tsc accepted %s, want errors\n%s", misuse, out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(string(out), w) {
					t.Errorf("tsc output lacks %q:\n%s", w, out)
				}
			}
		})
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

// TestDocsQuoteDeployments checks that README.md's table and
// docs/LAMBDA.md quote classgate.js's DEPLOYMENTS (the one source of the
// client's options per deployment), and the dead-link bound they state for
// a listener behind API Gateway (pingInterval + pongTimeout).
func TestDocsQuoteDeployments(t *testing.T) {
	js, err := os.ReadFile("static/classgate.js")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, f := range []string{"README.md", "../../docs/LAMBDA.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = string(b)
	}
	defaults := map[string]int{}
	block := regexp.MustCompile(`(?s)export const DEFAULTS = Object\.freeze\(\{(.*?)\}\);`).FindSubmatch(js)
	if block == nil {
		t.Fatal("DEFAULTS not found in classgate.js")
	}
	for _, p := range regexp.MustCompile(`(\w+):\s*(\d+)`).FindAllSubmatch(block[1], -1) {
		defaults[string(p[1])], _ = strconv.Atoi(string(p[2]))
	}
	block = regexp.MustCompile(`(?s)export const DEPLOYMENTS = Object\.freeze\(\{(.*?)\n\}\);`).FindSubmatch(js)
	if block == nil {
		t.Fatal("DEPLOYMENTS not found in classgate.js")
	}
	entries := regexp.MustCompile(`(\w+): Object\.freeze\(\{ (\w+): (\d+|DEFAULTS\.\w+) \}\)`).FindAllSubmatch(block[1], -1)
	if len(entries) != 2 {
		t.Fatalf("DEPLOYMENTS has %d entries of the form `name: Object.freeze({ option: value })`, want standalone and apigateway", len(entries))
	}
	for _, e := range entries {
		name, option, value := string(e[1]), string(e[2]), string(e[3])
		if d, ok := strings.CutPrefix(value, "DEFAULTS."); ok {
			row := fmt.Sprintf("| `%s` | the defaults (`%s` %d) |", name, option, defaults[d])
			if !strings.Contains(docs["README.md"], row) {
				t.Errorf("README.md lacks the row %q (DEPLOYMENTS in classgate.js)", row)
			}
			continue
		}
		row := fmt.Sprintf("| `%s` | `%s` %s ", name, option, value)
		if !strings.Contains(docs["README.md"], row) {
			t.Errorf("README.md lacks the row starting %q (DEPLOYMENTS in classgate.js)", row)
		}
		quote := fmt.Sprintf("(`%s`: `%s` %s)", name, option, value)
		if !strings.Contains(docs["../../docs/LAMBDA.md"], quote) {
			t.Errorf("docs/LAMBDA.md lacks %q (DEPLOYMENTS in classgate.js)", quote)
		}
		if name == "apigateway" && option == "pingInterval" {
			v, _ := strconv.Atoi(value)
			bound := fmt.Sprintf("`pingInterval + pongTimeout` = %d s", (v+defaults["pongTimeout"])/1000)
			for f, text := range docs {
				if !strings.Contains(text, bound) {
					t.Errorf("%s lacks the dead-link bound %q", f, bound)
				}
			}
		}
	}
}
