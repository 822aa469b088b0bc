// Command classgate-plugin scaffolds and checks classgate plugins.
//
//	classgate-plugin new NAME    create plugins/NAME from a template: a
//	                             handler, a passing native test, and the
//	                             commands to build it to wasm
//	classgate-plugin check [-config JSON] [-frame TYPE=JSON]... FILE
//	                             load a .wasm with the real host (exports,
//	                             imports, memory, cg_init), then run a
//	                             teacher's and a student's join, each sample
//	                             frame (default <namespace>.check {}) from
//	                             both, and both leaves; report each call's
//	                             status, time and output, and fail when any
//	                             call fails
//
// Run it from the module root (new writes into ./plugins).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
  classgate-plugin new NAME      create plugins/NAME (run from the module root)
  classgate-plugin check [-config JSON] [-frame TYPE=JSON]... FILE
                                 load FILE with the real host and run a sample
                                 classroom through it (join, frames, leave)`

func run(args []string, out io.Writer) error {
	if len(args) < 2 || args[0] != "check" && len(args) != 2 {
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
		return check(args[1:], out)
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

// sampleUsers are the members of the check's room.
var sampleUsers = [2]core.User{
	{ID: "check-teacher", Name: "Tess Teacher", Role: "teacher"},
	{ID: "check-student", Name: "Sam Student", Role: "student"},
}

// frameFlag collects repeated -frame TYPE=JSON flags.
type frameFlag []string

func (f *frameFlag) String() string     { return strings.Join(*f, " ") }
func (f *frameFlag) Set(s string) error { *f = append(*f, s); return nil }

// checkOutcome collects the host's outcome of each call.
type checkOutcome struct {
	outcome string
	d       time.Duration
}

func (c *checkOutcome) ObservePluginCall(_, _, outcome string, d time.Duration) {
	c.outcome, c.d = outcome, d
}

// check loads FILE with the real host, as the gateway would at startup, then
// runs a classroom through it: a teacher and a student join, each sample
// frame is sent by the student then the teacher, both leave (the room
// empties). Each call is reported with its outcome, time and output; any
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
	h, err := host.New(ctx, host.Config{Namespaces: map[string]host.Plugin{ns: {Source: abs, Config: conf, FailureBudget: -1}}}, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer h.Close(ctx)
	obs := &checkOutcome{}
	h.SetObserver(obs)
	fmt.Fprintf(out, "%s: loaded (classgate plugin ABI v1, namespace %q)\n", file, ns)

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
	fmt.Fprintln(tw, "  call\tuser\tstatus\ttime\temits\treplies\tstate ops\tdetail")
	for _, c := range calls {
		c.Seq, c.State = seq, maps.Clone(state)
		obs.outcome = ""
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
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", what, c.Sender.Role, orDash(obs.outcome), obs.d.Round(time.Microsecond), emits, replies, ops, detail)
	}
	tw.Flush()
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
