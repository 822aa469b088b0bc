package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

type nopSender struct{}

func (nopSender) Send(context.Context, core.ConnID, []byte) error       { return nil }
func (nopSender) Close(context.Context, core.ConnID, int, string) error { return nil }

var chat = core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
	switch {
	case c.Hook != core.HookMessage:
		return nil, nil
	case c.Type == "chat.send":
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Data: c.Data, Durable: true}}}, nil
	case c.Type == "chat.nope":
		return &core.Result{Reject: "not allowed"}, nil
	}
	return nil, errors.New("boom")
})

// recorded builds a tracer that records spans in memory.
func recorded(t *testing.T) (*Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return newTracer(tp, tp.Shutdown, true), rec
}

// traced builds a real router over the memory store with every wrapper.
func traced(t *testing.T, tr *Tracer) (Router, core.Store) {
	t.Helper()
	st := tr.Store(memory.New(memory.Options{}))
	r, err := core.NewRouter(core.Options{Store: st, Sender: nopSender{}, Plugins: tr.Plugins(core.StaticPlugins{"chat": chat}),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Router(r), st
}

func TestSpanTree(t *testing.T) {
	tr, rec := recorded(t)
	rt, st := traced(t, tr)
	ctx := context.Background()
	if err := rt.Connect(ctx, core.ConnInfo{ID: "c1", User: core.User{ID: "u1"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`{"type":"join","room":"r"}`, `{"type":"chat.send","room":"r","id":"m1","data":{"text":"hi"}}`} {
		if err := rt.Receive(ctx, "c1", []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	// Background store calls (heartbeat) make no spans.
	before := len(rec.Ended())
	if err := st.Touch(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != before {
		t.Errorf("a store call without a parent made %d spans", n-before)
	}

	spans := rec.Ended()
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
	}
	parentName := func(s sdktrace.ReadOnlySpan) string {
		if p, ok := byID[s.Parent().SpanID().String()]; ok && s.Parent().IsValid() {
			return p.Name()
		}
		return ""
	}
	attr := func(s sdktrace.ReadOnlySpan, key string) string {
		for _, a := range s.Attributes() {
			if string(a.Key) == key {
				return a.Value.String()
			}
		}
		return ""
	}
	// The chat.send frame's trace: the last receive span.
	var receive sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == SpanReceive {
			receive = s
		}
	}
	if receive == nil {
		t.Fatalf("no receive span among %d", len(spans))
	}
	var inTrace []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanContext().TraceID() == receive.SpanContext().TraceID() {
			inTrace = append(inTrace, s)
		}
	}
	want := []struct{ name, parent string }{
		{SpanReceive, ""},
		{SpanStore + "snapshot", SpanReceive},
		{SpanPlugin, SpanReceive},
		{SpanStore + "commit", SpanReceive},
		{SpanFanout, SpanStore + "commit"},
	}
	got := map[string]string{}
	for _, s := range inTrace {
		got[s.Name()] = parentName(s)
	}
	for _, w := range want {
		p, ok := got[w.name]
		if !ok {
			t.Errorf("no %s span in the chat.send trace (have %v)", w.name, got)
			continue
		}
		if p != w.parent {
			t.Errorf("%s: parent %q, want %q", w.name, p, w.parent)
		}
	}
	for _, s := range inTrace {
		switch s.Name() {
		case SpanPlugin:
			if attr(s, "classgate.plugin") != "chat" || attr(s, "classgate.type") != "chat.send" || attr(s, "classgate.room") != "r" || attr(s, "classgate.hook") != "message" {
				t.Errorf("plugin span attributes %v", s.Attributes())
			}
		case SpanFanout:
			if attr(s, "classgate.type") != "chat.message" || attr(s, "classgate.seq") != "1" {
				t.Errorf("fanout span attributes %v", s.Attributes())
			}
		case SpanReceive:
			if attr(s, "classgate.conn") != "c1" {
				t.Errorf("receive span attributes %v", s.Attributes())
			}
		}
		// Never message data in a span.
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), "hi") && a.Key != "classgate.type" {
				t.Errorf("span %s carries message data: %v", s.Name(), a)
			}
		}
	}
	// A connect span exists too.
	found := false
	for _, s := range spans {
		found = found || s.Name() == SpanConnect
	}
	if !found {
		t.Error("no connect span")
	}
}

func TestPluginSpanStatus(t *testing.T) {
	tests := []struct {
		frame      string
		wantStatus codes.Code
		wantReject string
	}{
		{`{"type":"chat.send","room":"r","data":{"text":"x"}}`, codes.Unset, ""},
		{`{"type":"chat.nope","room":"r"}`, codes.Unset, "not allowed"},
		{`{"type":"chat.boom","room":"r"}`, codes.Error, ""},
	}
	for _, tc := range tests {
		t.Run(tc.frame, func(t *testing.T) {
			tr, rec := recorded(t)
			rt, _ := traced(t, tr)
			ctx := context.Background()
			_ = rt.Connect(ctx, core.ConnInfo{ID: "c1", User: core.User{ID: "u1"}, Rooms: []string{"*"}})
			_ = rt.Receive(ctx, "c1", []byte(`{"type":"join","room":"r"}`))
			_ = rt.Receive(ctx, "c1", []byte(tc.frame))
			var last sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == SpanPlugin {
					last = s
				}
			}
			if last == nil {
				t.Fatal("no plugin span")
			}
			if last.Status().Code != tc.wantStatus {
				t.Errorf("status %v, want %v", last.Status(), tc.wantStatus)
			}
			reject := ""
			for _, a := range last.Attributes() {
				if a.Key == "classgate.reject" {
					reject = a.Value.AsString()
				}
			}
			if reject != tc.wantReject {
				t.Errorf("reject %q, want %q", reject, tc.wantReject)
			}
		})
	}
}

func TestWrappersKeepNilHandlers(t *testing.T) {
	tr, _ := recorded(t)
	p := tr.Plugins(core.StaticPlugins{"chat": chat})
	if h := p.Handler("r", "nope"); h != nil {
		t.Errorf("unknown namespace: handler %v, want nil", h)
	}
	if got := p.Features("r"); len(got) != 1 || got[0] != "chat" {
		t.Errorf("features %v", got)
	}
	var nilTracer *Tracer
	if nilTracer.Plugins(p) != p || nilTracer.Enabled() || nilTracer.Shutdown(context.Background()) != nil {
		t.Error("a nil tracer must pass everything through")
	}
	ctx, end := nilTracer.StartReceive(context.Background(), "c", 1)
	end(nil)
	if ctx == nil {
		t.Error("nil context")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		c    Config
		ok   bool
		want string // endpoint URL used
	}{
		{Config{}, true, ""},
		{Config{Endpoint: "http://127.0.0.1:4318"}, true, "http://127.0.0.1:4318/v1/traces"},
		{Config{Endpoint: "https://otel.example:4318/custom/path"}, true, "https://otel.example:4318/custom/path"},
		{Config{Endpoint: "127.0.0.1:4318"}, false, ""},
		{Config{Endpoint: "grpc://x:4317"}, false, ""},
		{Config{Endpoint: "http://"}, false, ""},
		{Config{SampleRatio: 1.5}, false, ""},
		{Config{SampleRatio: -0.1}, false, ""},
	}
	for _, tc := range tests {
		err := tc.c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: err %v, want ok=%v", tc.c, err, tc.ok)
		}
		if err == nil && tc.want != "" {
			if got := tc.c.endpointURL(); got != tc.want {
				t.Errorf("%+v: endpoint %q, want %q", tc.c, got, tc.want)
			}
		}
	}
}

func TestOffByDefault(t *testing.T) {
	tr, err := Setup(context.Background(), Config{}, "n1", "v")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Error("tracing enabled without an endpoint")
	}
	rt, _ := traced(t, tr)
	ctx := context.Background()
	if err := rt.Connect(ctx, core.ConnInfo{ID: "c1", User: core.User{ID: "u1"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Receive(ctx, "c1", []byte(`{"type":"join","room":"r"}`)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOTLPExport runs the real exporter against a loopback OTLP/HTTP
// receiver and checks that the spans arrive on Shutdown.
func TestOTLPExport(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []string
		body int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("X-Api-Key"))
		body += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr, err := Setup(ctx, Config{Endpoint: srv.URL, Headers: map[string]string{"X-Api-Key": "k1"}, Timeout: 5 * time.Second}, "node-1", "v-test")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("not enabled with an endpoint")
	}
	rt, _ := traced(t, tr)
	_ = rt.Connect(ctx, core.ConnInfo{ID: "c1", User: core.User{ID: "u1"}, Rooms: []string{"*"}})
	_ = rt.Receive(ctx, "c1", []byte(`{"type":"join","room":"r"}`))
	_ = rt.Receive(ctx, "c1", []byte(`{"type":"chat.send","room":"r","data":{"text":"x"}}`))
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) == 0 || body == 0 {
		t.Fatalf("nothing exported (requests %v)", reqs)
	}
	for _, r := range reqs {
		if r != "POST /v1/traces application/x-protobuf k1" {
			t.Errorf("export request %q", r)
		}
	}
}

// TestSpanNamesStable guards the names documented in docs/OPERATIONS.md.
func TestSpanNamesStable(t *testing.T) {
	b, _ := json.Marshal([]string{SpanReceive, SpanConnect, SpanDisconnect, SpanPlugin, SpanStore + "commit", SpanFanout})
	want := `["classgate.receive","classgate.connect","classgate.disconnect","classgate.plugin","classgate.store.commit","classgate.fanout"]`
	if string(b) != want {
		t.Errorf("span names %s, want %s", b, want)
	}
}
