package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/admin"
	"github.com/classgate/classgate/adapters/admin/admintest"
	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/dashstats"
)

const token = "admin-token-0123456789"

// fakePlugins serves chat (stable) and whiteboard (canary) everywhere, and
// has poll enabled but disabled by the time Served is asked.
type fakePlugins struct{}

func (fakePlugins) Features(string) []string { return []string{"chat", "poll", "whiteboard"} }

func (fakePlugins) Served(_, ns string) (string, string) {
	switch ns {
	case "chat":
		return "stable", strings.Repeat("c", 64)
	case "whiteboard":
		return "canary", strings.Repeat("d", 64)
	}
	return "", ""
}

// mathRoom is the room the fake node lists with plugins, filled by
// admin.RoomPlugins as cmd/gateway does.
func mathRoom() admin.RoomInfo {
	roles, versions := admin.RoomPlugins(fakePlugins{}, "school-7/math")
	return admin.RoomInfo{Room: "school-7/math", Members: 2, Users: 2, Plugins: roles, PluginVersions: versions}
}

// fakeNode is an in-memory Node that records what it was asked.
type fakeNode struct {
	mu      sync.Mutex
	rooms   []admin.RoomInfo
	members map[string][]core.Member
	calls   []string
	drained bool
	err     error // returned by every action when set
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		rooms: []admin.RoomInfo{
			mathRoom(),
			{Room: "art", Members: 1, Users: 1},
		},
		members: map[string][]core.Member{
			"school-7/math": {
				{Conn: "C2", User: core.User{ID: "sam", Name: "Sam", Role: "student"}},
				{Conn: "C1", User: core.User{ID: "ann", Name: "Ann", Role: "teacher"}},
			},
		},
	}
}

func (f *fakeNode) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeNode) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeNode) Rooms(context.Context) ([]admin.RoomInfo, error) {
	if err := f.record("rooms"); err != nil {
		return nil, err
	}
	return append([]admin.RoomInfo(nil), f.rooms...), nil
}

func (f *fakeNode) Presence(_ context.Context, room string) ([]core.Member, error) {
	if err := f.record("presence %s", room); err != nil {
		return nil, err
	}
	return append([]core.Member(nil), f.members[room]...), nil
}

func (f *fakeNode) Kick(_ context.Context, user, room string) (int, error) {
	if err := f.record("kick %s %s", user, room); err != nil {
		return 0, err
	}
	n := 0
	for r, ms := range f.members {
		if room != "" && r != room {
			continue
		}
		for _, m := range ms {
			if m.User.ID == user {
				n++
			}
		}
	}
	return n, nil
}

func (f *fakeNode) Broadcast(_ context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	if err := f.record("broadcast %s %s %s", room, typ, data); err != nil {
		return 0, err
	}
	return 42, nil
}

func (f *fakeNode) Drain(context.Context) error {
	if err := f.record("drain"); err != nil {
		return err
	}
	f.mu.Lock()
	f.drained = true
	f.mu.Unlock()
	return nil
}

func (f *fakeNode) Reload(context.Context) error { return f.record("reload") }

type fixture struct {
	node *fakeNode
	m    *metrics.Metrics
	api  *admin.API
	srv  *httptest.Server
	logs *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{node: newFakeNode(), m: metrics.New(metrics.Options{NoRuntimeMetrics: true}), logs: &bytes.Buffer{}}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, f.logs}, nil))
	api, err := admin.New(admin.Options{Token: token, Node: f.node, Stats: f.m.Stats, Metrics: f.m.Handler(),
		NodeID: "node-1", Version: "v-test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	f.srv = httptest.NewServer(api)
	t.Cleanup(f.srv.Close)
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) do(t *testing.T, method, path, auth, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// protected lists every endpoint that needs the token.
var protected = []struct{ method, path, body string }{
	{"GET", "/admin/stats", ""},
	{"GET", "/admin/rooms", ""},
	{"GET", "/admin/rooms/art/presence", ""},
	{"POST", "/admin/kick", `{"user":"sam"}`},
	{"POST", "/admin/rooms/art/message", `{"data":{"text":"hi"}}`},
	{"POST", "/admin/drain", ""},
	{"POST", "/admin/reload", ""},
	{"GET", "/metrics", ""},
}

func TestRefusedWithoutToken(t *testing.T) {
	f := newFixture(t)
	auths := []struct{ name, header string }{
		{"no header", ""},
		{"wrong token", "Bearer not-the-admin-token-xx"},
		{"token prefix", "Bearer " + token[:len(token)-1]},
		{"token with suffix", "Bearer " + token + "x"},
		{"basic scheme", "Basic " + token},
		{"bare token", token},
		{"empty bearer", "Bearer "},
	}
	for _, ep := range protected {
		for _, a := range auths {
			t.Run(ep.method+" "+ep.path+"/"+a.name, func(t *testing.T) {
				code, body, h := f.do(t, ep.method, ep.path, a.header, ep.body)
				if code != http.StatusUnauthorized {
					t.Fatalf("HTTP %d %s, want 401", code, body)
				}
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
				}
			})
		}
	}
	// The token in the URL is never accepted.
	if code, _, _ := f.do(t, "GET", "/admin/stats?token="+token, "", ""); code != http.StatusUnauthorized {
		t.Errorf("token in query: HTTP %d, want 401", code)
	}
	if calls := f.node.Calls(); len(calls) != 0 {
		t.Errorf("the node was called without the token: %v", calls)
	}
	if strings.Contains(f.logs.String(), token[:10]) {
		t.Errorf("a token reached the logs:\n%s", f.logs.String())
	}
}

func TestWorksWithToken(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path, body string
		auth       string
		wantCode   int
		wantBody   []string // substrings
		wantCall   string   // the node call it makes ("" for none)
	}{
		{"rooms sorted, plugins never null", "GET", "/admin/rooms", "", "", 200,
			[]string{`"room": "art"`, `"plugins": {}`, `"plugin_versions": {}`, `"whiteboard": "canary"`}, "rooms"},
		{"rooms name each plugin's role and digest; a namespace disabled meanwhile is left out", "GET", "/admin/rooms", "", "", 200,
			[]string{`"chat": {
          "role": "stable",
          "sha256": "` + strings.Repeat("c", 64) + `"`, `"whiteboard": {
          "role": "canary",
          "sha256": "` + strings.Repeat("d", 64) + `"`}, "rooms"},
		{"presence of an escaped room id", "GET", "/admin/rooms/school-7%2Fmath/presence", "", "", 200,
			[]string{`"room": "school-7/math"`, `"id": "ann"`, `"conn": "C2"`}, "presence school-7/math"},
		{"presence of an unknown room is empty", "GET", "/admin/rooms/nowhere/presence", "", "", 200,
			[]string{`"members": []`}, "presence nowhere"},
		{"kick everywhere", "POST", "/admin/kick", `{"user":"sam"}`, "", 200, []string{`"closed": 1`}, "kick sam "},
		{"kick in a room", "POST", "/admin/kick", `{"user":"ann","room":"school-7/math"}`, "", 200, []string{`"closed": 1`}, "kick ann school-7/math"},
		{"kick needs a user", "POST", "/admin/kick", `{"room":"x"}`, "", 400, []string{"user is required"}, ""},
		{"kick refuses unknown fields", "POST", "/admin/kick", `{"user":"sam","uid":1}`, "", 400, []string{"unknown field"}, ""},
		{"kick refuses bad JSON", "POST", "/admin/kick", `{`, "", 400, []string{"invalid JSON"}, ""},
		{"message with default type", "POST", "/admin/rooms/art/message", `{"data":{"text":"hi"}}`, "", 200,
			[]string{`"seq": 42`}, `broadcast art system.message {"text":"hi"}`},
		{"message with type and no data", "POST", "/admin/rooms/art/message", `{"type":"chat.message"}`, "", 200,
			[]string{`"seq": 42`}, `broadcast art chat.message {}`},
		{"message type must be namespaced", "POST", "/admin/rooms/art/message", `{"type":"hello"}`, "", 400, []string{"namespace"}, ""},
		{"drain", "POST", "/admin/drain", "", "", 200, []string{`"complete": true`}, "drain"},
		{"reload", "POST", "/admin/reload", "", "", 200, []string{`"reloaded": true`}, "reload"},
		{"stats", "GET", "/admin/stats", "", "", 200, []string{`"node": "node-1"`, `"version": "v-test"`, `"connections": 0`, `"rates"`}, ""},
		{"metrics behind the token", "GET", "/metrics", "", "", 200, []string{"classgate_connections 0"}, ""},
		{"scheme is case-insensitive", "GET", "/admin/rooms", "", "bearer " + token, 200, []string{`"rooms"`}, "rooms"},
		{"wrong method", "GET", "/admin/drain", "", "", 405, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			auth := tc.auth
			if auth == "" {
				auth = "Bearer " + token
			}
			code, body, h := f.do(t, tc.method, tc.path, auth, tc.body)
			if code != tc.wantCode {
				t.Fatalf("HTTP %d %s, want %d", code, body, tc.wantCode)
			}
			for _, w := range tc.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			if code == 200 && tc.path != "/metrics" && h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
			}
			calls := f.node.Calls()
			switch {
			case tc.wantCall == "" && len(calls) != 0:
				t.Errorf("node calls %v, want none", calls)
			case tc.wantCall != "" && (len(calls) != 1 || calls[0] != tc.wantCall):
				t.Errorf("node calls %q, want [%q]", calls, tc.wantCall)
			}
		})
	}
}

func TestNodeErrors(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{fmt.Errorf("room: %w", core.ErrNotFound), 404},
		{errors.ErrUnsupported, 501},
		{context.DeadlineExceeded, 504},
		{errors.New("store down"), 500},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			f := newFixture(t)
			f.node.err = tc.err
			code, body, _ := f.do(t, "POST", "/admin/reload", "Bearer "+token, "")
			if code != tc.code || !strings.Contains(body, tc.err.Error()) {
				t.Errorf("HTTP %d %s, want %d with the error", code, body, tc.code)
			}
		})
	}
}

func TestDrainTimeoutIsAccepted(t *testing.T) {
	node := admin.NodeFuncs{DrainFunc: func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("3 connections still open: %w", ctx.Err())
	}}
	api, err := admin.New(admin.Options{Token: token, Node: node, DrainTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/admin/drain", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	api.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"complete": false`) {
		t.Errorf("HTTP %d %s", rec.Code, rec.Body)
	}
}

func TestNodeFuncsUnsupported(t *testing.T) {
	api, err := admin.New(admin.Options{Token: token, Node: admin.NodeFuncs{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range protected {
		if ep.path == "/metrics" {
			continue
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(ep.method, ep.path, strings.NewReader(ep.body))
		req.Header.Set("Authorization", "Bearer "+token)
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotImplemented {
			t.Errorf("%s %s: HTTP %d, want 501", ep.method, ep.path, rec.Code)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		o    admin.Options
	}{
		{"no token", admin.Options{Node: admin.NodeFuncs{}}},
		{"short token", admin.Options{Token: "short", Node: admin.NodeFuncs{}}},
		{"no node", admin.Options{Token: token}},
	}
	for _, tc := range tests {
		if _, err := admin.New(tc.o); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestDashboardIsPublicAndLocked(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/admin/", "text/html", `src="/admin/static/dashboard.js"`},
		{"/admin/static/dashboard.js", "javascript", "Authorization: 'Bearer '"},
		{"/admin/static/dashboard.css", "text/css", ".cards"},
	}
	for _, tc := range tests {
		code, body, h := f.do(t, "GET", tc.path, "", "")
		if code != 200 || !strings.Contains(h.Get("Content-Type"), tc.contentType) || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: HTTP %d %s, %d bytes", tc.path, code, h.Get("Content-Type"), len(body))
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
	if code, _, _ := f.do(t, "GET", "/admin/static/nope.js", "", ""); code != 404 {
		t.Errorf("missing file: HTTP %d", code)
	}
}

func TestPublicMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	api, err := admin.New(admin.Options{Token: token, Node: admin.NodeFuncs{}, Metrics: m.Handler(), PublicMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "classgate_connections") {
		t.Errorf("HTTP %d", rec.Code)
	}
}

func TestAuditLog(t *testing.T) {
	f := newFixture(t)
	f.do(t, "POST", "/admin/kick", "Bearer "+token, `{"user":"sam","room":"art"}`)
	f.do(t, "POST", "/admin/rooms/art/message", "Bearer "+token, `{"data":{"text":"secret homework answer"}}`)
	logs := f.logs.String()
	for _, want := range []string{"admin: kicked", "user=sam", "room=art", "admin: system message", "type=system.message"} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs)
		}
	}
	for _, never := range []string{token, "secret homework answer"} {
		if strings.Contains(logs, never) {
			t.Errorf("audit log contains %q:\n%s", never, logs)
		}
	}
}

func adminClient(f *fixture) *admintest.Client {
	return &admintest.Client{Base: f.srv.URL, Token: token}
}

// TestRoomPlugins: each namespace enabled in the room is named with its
// role and digest; one disabled between Features and Served is left out
// of both maps.
func TestRoomPlugins(t *testing.T) {
	roles, versions := admin.RoomPlugins(fakePlugins{}, "any")
	wantRoles := map[string]string{"chat": "stable", "whiteboard": "canary"}
	wantVersions := map[string]admin.PluginVersion{
		"chat":       {Role: "stable", SHA256: strings.Repeat("c", 64)},
		"whiteboard": {Role: "canary", SHA256: strings.Repeat("d", 64)},
	}
	if !maps.Equal(roles, wantRoles) || !maps.Equal(versions, wantVersions) {
		t.Fatalf("RoomPlugins = %v %v, want %v %v", roles, versions, wantRoles, wantVersions)
	}
}

// TestStatsJSON: GET /admin/stats is one JSON object with exactly the
// names the dashboard (static/dashboard.js) and scripts read: the
// summary's (internal/dashstats) and the node's identity side by side.
func TestStatsJSON(t *testing.T) {
	f := newFixture(t)
	f.m.ObservePluginCall("chat", "stable", metrics.OutcomeOK, time.Millisecond)
	code, body, _ := f.do(t, "GET", "/admin/stats", "Bearer "+token, "")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d %s", code, body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		t.Fatal(err)
	}
	var rates, totals map[string]float64
	var plugins []map[string]json.RawMessage
	for name, v := range map[string]any{"rates": &rates, "totals": &totals, "plugins": &plugins} {
		if err := json.Unmarshal(top[name], v); err != nil {
			t.Fatalf("%s: %v in %s", name, err, body)
		}
	}
	if len(plugins) != 1 {
		t.Fatalf("plugins = %s, want the one plugin called", top["plugins"])
	}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"top level", slices.Sorted(maps.Keys(top)), []string{"connections", "draining", "errors_by_code", "fanout_p50_seconds",
			"fanout_p99_seconds", "frames_in_by_type", "node", "plugins", "rates", "rooms", "store_p99_seconds", "time",
			"totals", "uptime_seconds", "version", "window_seconds"}},
		{"rates", slices.Sorted(maps.Keys(rates)), []string{"deliveries", "errors", "frames_in", "frames_out", "joins",
			"plugin_calls", "plugin_errors", "rate_limited", "slow_consumer_closes", "store_errors"}},
		{"totals", slices.Sorted(maps.Keys(totals)), []string{"acks", "deliveries", "duplicates", "errors", "frames_in",
			"frames_out", "joins", "plugin_calls", "plugin_errors", "rate_limited", "replayed_events", "resyncs",
			"slow_consumer_closes", "store_errors"}},
		{"plugin", slices.Sorted(maps.Keys(plugins[0])), []string{"calls_per_second", "calls_total", "errors_per_second",
			"errors_total", "p99_seconds", "plugin", "version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Equal(tt.got, tt.want) {
				t.Errorf("names %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestStatsErrors: a summary that fails, or cannot be encoded (a NaN),
// is a 500 naming the problem, and the next request is served.
func TestStatsErrors(t *testing.T) {
	tests := []struct {
		name     string
		stats    func() (dashstats.Stats, error)
		wantBody string
	}{
		{"summary fails", func() (dashstats.Stats, error) { return dashstats.Stats{}, errors.New("collector broken") }, "collector broken"},
		{"not encodable", func() (dashstats.Stats, error) { return dashstats.Stats{Connections: math.NaN()}, nil }, "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			api, err := admin.New(admin.Options{Token: token, Node: newFakeNode(), Logger: slog.New(slog.DiscardHandler),
				Stats: func() (dashstats.Stats, error) {
					if calls++; calls == 1 {
						return tt.stats()
					}
					return dashstats.Stats{Connections: 3}, nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(api)
			defer srv.Close()
			f := &fixture{srv: srv}
			if code, body, _ := f.do(t, "GET", "/admin/stats", "Bearer "+token, ""); code != http.StatusInternalServerError || !strings.Contains(body, tt.wantBody) {
				t.Errorf("HTTP %d %s, want 500 naming %q", code, body, tt.wantBody)
			}
			if code, body, _ := f.do(t, "GET", "/admin/stats", "Bearer "+token, ""); code != http.StatusOK || !strings.Contains(body, `"connections": 3`) {
				t.Errorf("next request: HTTP %d %s", code, body)
			}
		})
	}
}
