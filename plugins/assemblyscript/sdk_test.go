package assemblyscript

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/host"
)

// probe loads testdata/sdkprobe as namespace "probe" with config cfg.
func probe(t *testing.T, cfg map[string]any) core.Handler {
	t.Helper()
	if asMissing != "" {
		t.Skip(asMissing)
	}
	h, err := host.New(context.Background(), host.Config{CacheDir: cacheDir, Namespaces: map[string]host.Plugin{
		"probe": {Source: filepath.Join(wasmDir, "sdkprobe-as.wasm"), Config: cfg, FailureBudget: -1, Timeout: callTimeout},
	}}, nil)
	if err != nil {
		t.Fatalf("load sdkprobe: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h.Handler("class-1", "probe")
}

var ann = core.User{ID: "u1", Name: "Ann", Role: "teacher"}

func msg(typ, data string, st map[string][]byte) *core.Call {
	return &core.Call{Hook: core.HookMessage, Type: typ, Room: "class-1", Conn: "c1", Sender: ann, Seq: 5, Data: json.RawMessage(data), State: st}
}

// TestSDK: what the AssemblyScript SDK decodes from the call record and
// sends through each import reaches the host as the ABI says — every call
// field, state reads that see the call's own writes, list in key order,
// each target kind, config accessors and their defaults, findJSON, and
// the failure paths (handler error, abort, invalid output, forbid).
func TestSDK(t *testing.T) {
	ctx := context.Background()
	hd := probe(t, map[string]any{"name": "Zoë", "loud": true, "limit": 42, "tags": []any{"a", "b"}})
	one := func(t *testing.T, c *core.Call) *core.Result {
		t.Helper()
		res, err := hd.Handle(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Type, err)
		}
		return res
	}
	for _, tc := range []struct {
		name string
		call *core.Call
		want string // outcome(result)
	}{
		{"every call field", msg("probe.echo", `{"k":[1,"é"]}`, nil),
			`reject="" forbidden=false emit{probe.echo durable=true to={Kind:0 Value: Conn:} {"ns":"probe","type":"probe.echo","room":"class-1","conn":"c1","seq":5,"user":{"id":"u1","name":"Ann","role":"teacher"},"data":{"k":[1,"é"]}}}`},
		{"no data", msg("probe.echo", ``, nil),
			`reject="" forbidden=false emit{probe.echo durable=true to={Kind:0 Value: Conn:} {"ns":"probe","type":"probe.echo","room":"class-1","conn":"c1","seq":5,"user":{"id":"u1","name":"Ann","role":"teacher"},"data":null}}`},
		{"join", &core.Call{Hook: core.HookJoin, Room: "class-1", Conn: "c2", Sender: core.User{ID: "u2", Name: "Bo \"B\"", Role: "student"}, FirstOfUser: true},
			`reject="" forbidden=false reply{probe.hello to={Kind:0 Value: Conn:} {"hook":"join","first":true,"user":{"id":"u2","name":"Bo \"B\"","role":"student"}}}`},
		{"leave", &core.Call{Hook: core.HookLeave, Room: "class-1", Conn: "c2", Sender: ann, LastOfUser: true, RoomEmpty: false},
			`reject="" forbidden=false emit{probe.bye durable=false to={Kind:1 Value: Conn:c2} {"last":true,"empty":false}}`},
		{"state", msg("probe.state", `{}`, map[string][]byte{"c:w": []byte("0"), "z": []byte("9")}),
			`reject="" forbidden=false reply{probe.state to={Kind:0 Value: Conn:} {"has_a":true,"has_b":false,"a":"1","list":[["c:w","0"],["c:x","3"],["c:y","é"]]}} op{1 "a" "1"} op{1 "b" "2"} op{1 "c:x" "3"} op{1 "c:y" "é"} op{2 "b" ""}`},
		{"targets", msg("probe.targets", `{}`, nil),
			`reject="" forbidden=false emit{probe.t durable=false to={Kind:2 Value:teacher Conn:} } emit{probe.t durable=false to={Kind:3 Value:u9 Conn:} } emit{probe.t durable=false to={Kind:4 Value: Conn:c9} } emit{probe.t durable=false to={Kind:0 Value: Conn:} }`},
		{"config", msg("probe.config", `{}`, nil),
			`reject="" forbidden=false reply{probe.config to={Kind:0 Value: Conn:} {"name":"Zoë","loud":true,"limit":42,"tags":["a","b"]}}`},
		{"findJSON", msg("probe.find", `{"a":{"b":[1,2,3]}}`, nil),
			`reject="" forbidden=false reply{probe.found to={Kind:0 Value: Conn:} {"raw":[1,2,3],"count":3}}`},
		{"findJSON not found", msg("probe.find", `{"a":{}}`, nil),
			`reject="" forbidden=false reply{probe.found to={Kind:0 Value: Conn:} }`},
		{"forbid with no reason", msg("probe.forbid", `{}`, nil), `reject="forbidden" forbidden=true`},
		{"reject", msg("probe.other", `{}`, nil), `reject="unknown probe.other" forbidden=false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := outcome(one(t, tc.call)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ typ, want string }{
		{"probe.fail", "probe failed on purpose"},
		{"probe.abort", "abort: probe aborted on purpose at testdata/sdkprobe/index.ts"},
		{"probe.badtype", "Not An Action!"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if _, err := hd.Handle(ctx, msg(tc.typ, `{}`, nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
			// The plugin serves on (a new instance after the abort).
			if got := outcome(one(t, msg("probe.other", `{}`, nil))); got != `reject="unknown probe.other" forbidden=false` {
				t.Fatalf("after %s: %s", tc.typ, got)
			}
		})
	}
}

// TestSDKConfig: absent keys get the defaults; a value of the wrong kind
// fails the load with the SDK's message naming the key.
func TestSDKConfig(t *testing.T) {
	hd := probe(t, nil)
	res, err := hd.Handle(context.Background(), msg("probe.config", `{}`, nil))
	if err != nil || outcome(res) != `reject="" forbidden=false reply{probe.config to={Kind:0 Value: Conn:} {"name":"anon","loud":false,"limit":7,"tags":["x"]}}` {
		t.Fatalf("defaults: %v %v", outcome(res), err)
	}
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"loud": "yes"}, "sdk: config loud: not a boolean"},
		{map[string]any{"limit": 1.5}, "sdk: config limit: not an integer"},
		{map[string]any{"name": 3}, "sdk: config name: not a string"},
		{map[string]any{"tags": []any{"a", 2}}, "sdk: config tags: not an array of strings"},
	} {
		h, err := host.New(context.Background(), host.Config{CacheDir: cacheDir, Namespaces: map[string]host.Plugin{
			"probe": {Source: filepath.Join(wasmDir, "sdkprobe-as.wasm"), Config: tc.cfg},
		}}, nil)
		if err == nil {
			h.Close(context.Background())
			t.Fatalf("config %v loaded", tc.cfg)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("config %v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestMemoryStaysFlat: the SDK frees each call's garbage (one collection
// after every call, sdk/exports.ts), so 20,000 votes and 200 joins on one
// instance leave its linear memory at its initial size. Linear memory
// never shrinks, and an instance serves a room for as long as the room
// lives: garbage kept would be memory kept. Run under Node with a stand-in
// host (testdata/memcheck.mjs): the real host does not show a guest's
// memory size.
func TestMemoryStaysFlat(t *testing.T) {
	if asMissing != "" {
		t.Skip(asMissing)
	}
	out, err := exec.Command("node", "testdata/memcheck.mjs", filepath.Join(wasmDir, "poll-as.wasm"), "20000").Output()
	if err != nil {
		t.Fatalf("memcheck: %v\n%s", err, out)
	}
	var got struct {
		Start, End, Emits int
		Tally             string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("memcheck output %q: %v", out, err)
	}
	if got.Emits != 20201 || got.Tally != "2000,2000,2000,2000,2000,2000,2000,2000,2000,2000" {
		t.Fatalf("memcheck did not run the calls: %+v", got)
	}
	if got.End != got.Start {
		t.Fatalf("linear memory grew from %d to %d bytes over 20,000 calls", got.Start, got.End)
	}
}
