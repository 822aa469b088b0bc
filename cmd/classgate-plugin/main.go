// Command classgate-plugin scaffolds and checks classgate plugins.
//
//	classgate-plugin new [-sdk DIR] NAME
//	                             create ./NAME, a standalone Go module (its
//	                             own go.mod requiring the classgate SDK from
//	                             the checkout DIR) with a handler, a passing
//	                             native test and a build script
//	classgate-plugin new -in-tree NAME
//	                             create plugins/NAME in the classgate
//	                             checkout (embedded by make plugins)
//	classgate-plugin check [-config JSON] [-frame TYPE=JSON]... FILE
//	                             load a .wasm with the real host (exports,
//	                             imports, memory, cg_init), then run a
//	                             teacher's and a student's join, each sample
//	                             frame (default <namespace>.check {}) from
//	                             both, and both leaves; report each call's
//	                             status, time, memory (pages newly written,
//	                             heap growth) and output, and fail when any
//	                             call fails
//
// new -in-tree runs from the classgate module root.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/host"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "classgate-plugin:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  classgate-plugin new [-sdk DIR] NAME
                                 create ./NAME, a standalone Go module for the
                                 plugin NAME that depends on the classgate SDK
                                 (DIR: a classgate checkout; default: the one
                                 the current directory is in)
  classgate-plugin new -in-tree NAME
                                 create plugins/NAME inside the classgate
                                 checkout (run from its root); make plugins
                                 embeds it into the gateway
  classgate-plugin check [-config JSON] [-frame TYPE=JSON]... FILE
                                 load FILE with the real host and run a sample
                                 classroom through it (join, frames, leave)`

func run(args []string, out io.Writer) error {
	if len(args) < 2 {
		return errors.New(usage)
	}
	switch args[0] {
	case "new":
		return newCmd(args[1:], out)
	case "check":
		return check(args[1:], out)
	}
	return errors.New(usage)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// modulePath is the classgate module, which holds the SDK.
const modulePath = "github.com/classgate/classgate"

func newCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("new", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	inTree := fs.Bool("in-tree", false, "create plugins/NAME in the classgate checkout")
	sdk := fs.String("sdk", "", "the classgate checkout whose SDK the module uses")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return errors.New(usage)
	}
	name := fs.Arg(0)
	if *inTree {
		dir, err := scaffold(".", name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created %s\n  test:  go test ./%s\n  build: plugins/build.sh (writes plugins/embedded/wasm/%s.wasm)\n", dir, dir, name)
		return nil
	}
	if *sdk == "" {
		root, err := classgateRoot(".")
		if err != nil {
			return fmt.Errorf("%w; pass -sdk <classgate checkout>", err)
		}
		*sdk = root
	}
	dir, err := scaffoldModule(".", name, *sdk)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created %s (module %s, SDK from %s)\n  cd %s && go mod tidy && go test ./...\n  build: ./build.sh (writes %s.wasm)\n  check: classgate-plugin check %s/%s.wasm\n", dir, name, *sdk, dir, name, dir, name)
	return nil
}

// classgateRoot returns the root of the classgate checkout dir is in.
func classgateRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && goModModule(b) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside a classgate checkout", abs)
		}
	}
}

// goModModule returns the module path a go.mod declares.
func goModModule(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	return ""
}

// goDirective returns the go line of a go.mod ("go 1.26.0").
func goDirective(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "go ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// scaffoldModule writes NAME under root as a standalone module whose go.mod
// requires the classgate module from the checkout sdk, and returns its
// path. The plugin is not embedded into the gateway: the gateway loads its
// .wasm by path (namespaces.NAME.source).
func scaffoldModule(root, name, sdk string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("plugin name %q must match %s", name, nameRE)
	}
	sdk, err := filepath.Abs(sdk)
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(sdk, "go.mod"))
	if err != nil || goModModule(gomod) != modulePath {
		return "", fmt.Errorf("-sdk %s: not a classgate checkout (no go.mod of %s)", sdk, modulePath)
	}
	dir := filepath.Join(root, name)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("%s already exists", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	data := map[string]string{
		"Name": name, "Module": name, "Go": goDirective(gomod), "ClassgateModule": modulePath, "SDK": sdk,
		"Build": "./build.sh   (GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o " + name + ".wasm .)",
	}
	for file, tmpl := range map[string]string{"go.mod": goModTmpl, "main.go": mainTmpl, name + "_test.go": testTmpl, "build.sh": buildTmpl} {
		var b strings.Builder
		if err := template.Must(template.New(file).Parse(tmpl)).Execute(&b, data); err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if file == "build.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(b.String()), mode); err != nil {
			return "", err
		}
	}
	return dir, nil
}

const goModTmpl = `module {{.Module}}

{{.Go}}

require {{.ClassgateModule}} v0.0.0

// The classgate SDK from a local checkout; point it at yours.
replace {{.ClassgateModule}} => {{.SDK}}
`

const buildTmpl = `#!/bin/sh
# Builds {{.Name}}.wasm, the plugin the gateway loads from
# plugins.namespaces.{{.Name}}.source. -trimpath makes the bytes (and the
# sha256 to pin) depend only on the sources and the toolchain.
set -e
cd "$(dirname "$0")"
GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o {{.Name}}.wasm .
echo "built {{.Name}}.wasm (sha256 $(sha256sum {{.Name}}.wasm | cut -d' ' -f1))"
`

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
	data := map[string]string{"Name": name,
		"Build": "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o " + name + ".wasm ./plugins/" + name + "\n//\n// or with everything else by plugins/build.sh (make plugins)."}
	for file, tmpl := range map[string]string{"main.go": mainTmpl, name + "_test.go": testTmpl} {
		var b strings.Builder
		if err := template.Must(template.New(file).Parse(tmpl)).Execute(&b, data); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(root, dir, file), []byte(b.String()), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// sampleUsers are the members of the check's room.
var sampleUsers = [2]core.User{
	{ID: "check-teacher", Name: "Tess Teacher", Role: "teacher"},
	{ID: "check-student", Name: "Sam Student", Role: "student"},
}

// frameFlag collects repeated -frame TYPE=JSON flags.
type frameFlag []string

func (f *frameFlag) String() string     { return strings.Join(*f, " ") }
func (f *frameFlag) Set(s string) error { *f = append(*f, s); return nil }

// checkOutcome collects the host's outcome of each call, and what it did
// to the instance's linear memory (host.MemoryObserver).
type checkOutcome struct {
	outcome string
	d       time.Duration
	mem     host.CallMemory
}

func (c *checkOutcome) ObservePluginCall(_, _, outcome string, d time.Duration) {
	c.outcome, c.d = outcome, d
}

func (c *checkOutcome) ObserveCallMemory(_, _ string, m host.CallMemory) { c.mem = m }

var _ host.MemoryObserver = (*checkOutcome)(nil)

// memColumns formats a call's memory use: the KiB of pages it wrote for
// the first time since its instance started from the snapshot (the
// guest's allocations and the stack it touched: what the instance holds
// privately and a reset copies back), and how much it grew linear memory.
func memColumns(m host.CallMemory) (written, grew string) {
	written = "?"
	if m.PagesWritten >= 0 {
		written = fmt.Sprintf("%d KiB", m.PagesWritten*4)
	}
	return written, fmt.Sprintf("%d KiB", m.GrewBytes/1024)
}

// check loads FILE with the real host, as the gateway would at startup, then
// runs a classroom through it: a teacher and a student join, each sample
// frame is sent by the student then the teacher, both leave (the room
// empties). Each call is reported with its outcome, time, memory use and
// output; any
// failed call (error, panic, timeout, crash, ABI violation, invalid output,
// limit) fails the check. A rejection is an answer, not a failure.
func check(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var frames frameFlag
	fs.Var(&frames, "frame", "a sample frame TYPE=JSON (repeatable; default: <namespace>.check={})")
	config := fs.String("config", "{}", "the plugin's config subtree, as a JSON object")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return errors.New(usage)
	}
	file := fs.Arg(0)
	var conf map[string]any
	if err := json.Unmarshal([]byte(*config), &conf); err != nil {
		return fmt.Errorf("-config: not a JSON object: %w", err)
	}
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
	type frame struct {
		typ  string
		data json.RawMessage
	}
	var samples []frame
	if len(frames) == 0 {
		frames = frameFlag{ns + ".check={}"}
	}
	for _, f := range frames {
		typ, data, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(typ, ns+".") {
			return fmt.Errorf("-frame %q: want %s.<action>=<json>", f, ns)
		}
		if data != "" && !json.Valid([]byte(data)) {
			return fmt.Errorf("-frame %q: data is not valid JSON", f)
		}
		samples = append(samples, frame{typ, json.RawMessage(data)})
	}
	// The host's warnings while loading (a warm-up that failed: ABI.md
	// §4a) fail the check: the plugin would serve, but not as written.
	var warnings bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
				return slog.Attr{}
			}
			return a
		}}))
	h, err := host.New(ctx, host.Config{Namespaces: map[string]host.Plugin{ns: {Source: abs, Config: conf, FailureBudget: -1}}}, logger)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer h.Close(ctx)
	obs := &checkOutcome{}
	h.SetObserver(obs)
	fmt.Fprintf(out, "%s: loaded (classgate plugin ABI v1, namespace %q)\n", file, ns)
	if warnings.Len() > 0 {
		for _, line := range strings.Split(strings.TrimSpace(warnings.String()), "\n") {
			fmt.Fprintf(out, "  host warning: %s\n", line)
		}
		return fmt.Errorf("%s: the host warned while loading it", file)
	}

	const room = "check-room"
	var calls []*core.Call
	for i, u := range sampleUsers {
		calls = append(calls, &core.Call{Hook: core.HookJoin, Room: room, Sender: u, Conn: core.ConnID(fmt.Sprintf("c%d", i+1)), FirstOfUser: true})
	}
	for _, f := range samples {
		for _, i := range []int{1, 0} {
			calls = append(calls, &core.Call{Hook: core.HookMessage, Type: f.typ, Data: f.data, Room: room, Sender: sampleUsers[i], Conn: core.ConnID(fmt.Sprintf("c%d", i+1))})
		}
	}
	for i, u := range sampleUsers {
		calls = append(calls, &core.Call{Hook: core.HookLeave, Room: room, Sender: u, Conn: core.ConnID(fmt.Sprintf("c%d", i+1)), LastOfUser: true, RoomEmpty: i == len(sampleUsers)-1})
	}
	state := map[string][]byte{}
	var seq uint64
	failed := 0
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  call\tuser\tstatus\ttime\twritten\theap grew\temits\treplies\tstate ops\tdetail")
	for _, c := range calls {
		c.Seq, c.State = seq, maps.Clone(state)
		obs.outcome, obs.mem = "", host.CallMemory{PagesWritten: -1}
		res, err := h.Handler(room, ns).Handle(ctx, c)
		what := [...]string{core.HookMessage: c.Type, core.HookJoin: "join", core.HookLeave: "leave"}[c.Hook]
		detail := ""
		switch {
		case err != nil:
			failed++
			detail = err.Error()
		case res.Reject != "":
			detail = "reason: " + res.Reject
		default:
			for _, op := range res.Ops {
				switch op.Op {
				case core.OpSet:
					state[op.Key] = op.Value
				case core.OpDel:
					delete(state, op.Key)
				case core.OpClear:
					clear(state)
				}
			}
			for _, e := range res.Emits {
				if e.Durable {
					seq++
				}
			}
		}
		var emits, replies, ops int
		if res != nil {
			emits, replies, ops = len(res.Emits), len(res.Replies), len(res.Ops)
		}
		written, grew := memColumns(obs.mem)
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", what, c.Sender.Role, orDash(obs.outcome), obs.d.Round(time.Microsecond), written, grew, emits, replies, ops, detail)
	}
	tw.Flush()
	fmt.Fprintf(out, "  (written: 4 KiB pages the call wrote for the first time since its instance started from the\n"+
		"  plugin's snapshot; heap grew: linear memory the call added; memory after the last call: %d KiB)\n", obs.mem.Size/1024)
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d calls failed", file, failed, len(calls))
	}
	fmt.Fprintf(out, "%s: ok (%d calls)\n", file, len(calls))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const mainTmpl = `// Command {{.Name}} is a classgate plugin (namespace "{{.Name}}"), built with
//
//	{{.Build}}
//
// Frames:
//
//	{{.Name}}.say {text}  → durable {{.Name}}.said {text} to the room
//	(join)          → reply {{.Name}}.count {said}: how many were said
package main

import (
	"strconv"

	"github.com/classgate/classgate/plugins/sdk"
	"github.com/classgate/classgate/plugins/abi/jsonlite"
)

func init() {
	sdk.Register(New)
	// Common calls on made-up data, run once before the host snapshots an
	// instance, so instances reset for another room start warm.
	sdk.Warmup(sdk.Sample{Action: "say", Data: ` + "`" + `{"text":"warm-up"}` + "`" + `}, sdk.Sample{Hook: sdk.HookJoin})
}

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
