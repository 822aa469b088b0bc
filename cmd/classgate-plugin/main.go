// Command classgate-plugin scaffolds and checks classgate plugins.
//
//	classgate-plugin new NAME    create plugins/NAME from a template: a
//	                             handler, a passing native test, and the
//	                             commands to build it to wasm
//	classgate-plugin check FILE  load a .wasm with the real host and verify
//	                             it implements the plugin ABI (exports,
//	                             imports, memory, cg_init)
//
// Run it from the module root (new writes into ./plugins).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/classgate/classgate/plugins/host"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "classgate-plugin:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  classgate-plugin new NAME      create plugins/NAME (run from the module root)
  classgate-plugin check FILE    verify that FILE is a loadable classgate plugin`

func run(args []string, out io.Writer) error {
	if len(args) != 2 {
		return errors.New(usage)
	}
	switch args[0] {
	case "new":
		dir, err := scaffold(".", args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created %s\n  test:  go test ./%s\n  build: plugins/build.sh (writes plugins/embedded/wasm/%s.wasm)\n", dir, dir, args[1])
		return nil
	case "check":
		return check(args[1], out)
	}
	return errors.New(usage)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// scaffold writes plugins/NAME under root and returns its path.
func scaffold(root, name string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("plugin name %q must match %s", name, nameRE)
	}
	switch name {
	case "abi", "sdk", "host", "embedded", "testdata":
		return "", fmt.Errorf("plugin name %q is reserved", name)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", errors.New("run from the module root (no go.mod here)")
	}
	dir := filepath.Join("plugins", name)
	if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
		return "", fmt.Errorf("%s already exists", dir)
	}
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		return "", err
	}
	for file, tmpl := range map[string]string{"main.go": mainTmpl, name + "_test.go": testTmpl} {
		var b strings.Builder
		if err := template.Must(template.New(file).Parse(tmpl)).Execute(&b, map[string]string{"Name": name}); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(root, dir, file), []byte(b.String()), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// check loads FILE with the real host, as the gateway would at startup.
func check(file string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	ns := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if !regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`).MatchString(ns) {
		ns = "plugin"
	}
	h, err := host.New(ctx, host.Config{Namespaces: map[string]host.Plugin{ns: {Source: abs}}}, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer h.Close(ctx)
	fmt.Fprintf(out, "%s: ok (classgate plugin ABI v1, loaded as namespace %q)\n", file, ns)
	return nil
}

const mainTmpl = `// Command {{.Name}} is a classgate plugin (namespace "{{.Name}}"), built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o {{.Name}}.wasm ./plugins/{{.Name}}
//
// or with everything else by plugins/build.sh (make plugins).
//
// Frames:
//
//	{{.Name}}.say {text}  → durable {{.Name}}.said {text} to the room
//	(join)          → reply {{.Name}}.count {said}: how many were said
package main

import (
	"strconv"

	"github.com/classgate/classgate/plugins/sdk"
	"github.com/classgate/classgate/plugins/sdk/jsonlite"
)

func init() { sdk.Register(New) }

func main() {}

// New builds the handler from the plugin's config subtree.
func New(cfg sdk.Config) (sdk.Handler, error) {
	maxLen, err := cfg.Int("max_length", 200)
	if err != nil {
		return nil, err
	}
	return func(c *sdk.Call) error {
		switch c.Hook {
		case sdk.HookJoin:
			return c.Reply("count", []byte(` + "`" + `{"said":` + "`" + `+strconv.Itoa(said(c))+"}"))
		case sdk.HookLeave:
			return nil
		}
		if c.Action != "say" {
			return c.Reject("unknown type " + c.Type)
		}
		text, ok, err := jsonlite.LookupString(c.Data, "text")
		if err != nil || !ok || len(text) == 0 {
			return c.Reject("text must be a non-empty string")
		}
		if len(text) > maxLen {
			return c.Reject("text too long")
		}
		if err := c.Set("said", []byte(strconv.Itoa(said(c)+1))); err != nil {
			return err
		}
		return c.Broadcast("said", append(jsonlite.AppendString([]byte(` + "`" + `{"text":` + "`" + `), text), '}'))
	}, nil
}

func said(c *sdk.Call) int {
	raw, _ := c.Get("said")
	n, _ := strconv.Atoi(string(raw))
	return n
}
`

const testTmpl = `package main

import (
	"testing"

	"github.com/classgate/classgate/plugins/sdk"
)

func TestSay(t *testing.T) {
	u := sdk.User{ID: "u1", Name: "Ann", Role: "teacher"}
	for _, tc := range []struct {
		data, wantReject, wantData string
	}{
		{` + "`" + `{"text":"hi"}` + "`" + `, "", ` + "`" + `{"text":"hi"}` + "`" + `},
		{` + "`" + `{"text":""}` + "`" + `, "text must be a non-empty string", ""},
		{` + "`" + `{"text":"way too long"}` + "`" + `, "text too long", ""},
	} {
		h, err := sdk.NewHarness("{{.Name}}", New, ` + "`" + `{"max_length":5}` + "`" + `)
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Message(u, "c1", "{{.Name}}.say", tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reject != tc.wantReject {
			t.Fatalf("%s: reject %q, want %q", tc.data, res.Reject, tc.wantReject)
		}
		if tc.wantData != "" && (len(res.Emits) != 1 || res.Emits[0].Data != tc.wantData || !res.Emits[0].Durable) {
			t.Fatalf("%s: emits %+v", tc.data, res.Emits)
		}
	}
}

func TestJoinCount(t *testing.T) {
	h, err := sdk.NewHarness("{{.Name}}", New, "")
	if err != nil {
		t.Fatal(err)
	}
	u := sdk.User{ID: "u1"}
	for i := 0; i < 2; i++ {
		if _, err := h.Message(u, "c1", "{{.Name}}.say", ` + "`" + `{"text":"x"}` + "`" + `); err != nil {
			t.Fatal(err)
		}
	}
	res, err := h.Join(u, "c2", true)
	if err != nil || len(res.Replies) != 1 || res.Replies[0].Data != ` + "`" + `{"said":2}` + "`" + ` {
		t.Fatalf("join: %+v %v", res, err)
	}
}
`
