package awsapigw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/auth"
	"github.com/classgate/classgate/core/memory"
)

var quiet = slog.New(slog.DiscardHandler)

var secret = []byte("test-secret-test-secret-test-secret-0123")

// clock is a settable clock shared by the store, the router and the
// handler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// echo is a plugin: "echo.say" broadcasts a durable "echo.said"; a user's
// last connection leaving emits a durable "echo.left".
var echo = core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
	switch c.Hook {
	case core.HookMessage:
		return &core.Result{Emits: []core.Emit{{Type: "echo.said", Data: c.Data, Durable: true}}}, nil
	case core.HookLeave:
		if c.LastOfUser {
			return &core.Result{Emits: []core.Emit{{Type: "echo.left", Data: json.RawMessage(`{}`), Durable: true}}}, nil
		}
	}
	return &core.Result{}, nil
})

type rig struct {
	t     *testing.T
	api   *fakeAPI
	h     *Handler
	store *memory.Store
	clk   *clock
	emf   *EMF
	out   *bytes.Buffer
	authz *Authorizer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	api := newFakeAPI(t)
	clk := &clock{t: time.Now()}
	out := &bytes.Buffer{}
	emf := NewEMF(&syncWriter{w: out}, "Classgate", "test-fn", clk.Now)
	snd := newTestSender(t, api, emf)
	st := memory.New(memory.Options{LivenessTTL: time.Minute, Now: clk.Now})
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: true, Plugins: core.StaticPlugins{"echo": echo},
		MaxMessageBytes: MaxMessageBytes, Observer: emf, Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(HandlerOptions{Router: r, Sender: snd, Metrics: emf, Liveness: st, Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwt.New(jwt.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthorizer(AuthorizerOptions{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, api: api, h: h, store: st, clk: clk, emf: emf, out: out, authz: a}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// connect runs the authorizer and $connect like API Gateway does: the
// authorizer context travels as JSON.
func (r *rig) connect(id core.ConnID, user string, exp time.Duration) {
	r.t.Helper()
	tok, err := auth.SignHS256(secret, auth.Claims{Subject: user, Name: "Name " + user, Role: "student", Rooms: []string{"r*", "x"}, Expiry: time.Now().Add(exp).Unix()})
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.authz.Authorize(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{
		MethodArn: "arn:aws:execute-api:eu-west-1:1:api/test/$connect", QueryStringParameters: map[string]string{"token": tok}})
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := json.Marshal(resp.Context)
	var ctxMap map[string]any
	_ = json.Unmarshal(b, &ctxMap)
	ctxMap["principalId"] = resp.PrincipalID
	res, err := r.h.Handle(context.Background(), wsEvent("CONNECT", id, "", ctxMap))
	if err != nil || res.StatusCode != 200 {
		r.t.Fatalf("$connect: %d %v", res.StatusCode, err)
	}
}

func (r *rig) send(id core.ConnID, frame string) {
	r.t.Helper()
	res, err := r.h.Handle(context.Background(), wsEvent("MESSAGE", id, frame, nil))
	if err != nil || res.StatusCode != 200 {
		r.t.Fatalf("$default: %d %v", res.StatusCode, err)
	}
}

func TestConnectPostsNothingAndJoinAnswersInOrder(t *testing.T) {
	r := newRig(t)
	r.connect("A=", "ann", time.Hour)
	if n := len(r.api.frames("A=")); n != 0 {
		t.Fatalf("$connect posted %d frames", n)
	}
	r.send("A=", `{"type":"join","room":"r1","id":"j"}`)
	r.send("A=", `{"type":"echo.say","room":"r1","id":"m1","data":{"n":1}}`)
	got := strings.Join(r.api.types("A="), ",")
	if got != "joined,echo.said,ack" {
		t.Fatalf("frames to A: %s", got)
	}
}

func TestFanoutPerConnectionOrder(t *testing.T) {
	r := newRig(t)
	ids := []core.ConnID{"A", "B", "C", "D"}
	for i, id := range ids {
		r.connect(id, fmt.Sprint("u", i), time.Hour)
		r.send(id, `{"type":"join","room":"r1","id":"j"}`)
	}
	r.api.reset()
	for i := range 5 {
		r.send("A", fmt.Sprintf(`{"type":"echo.say","room":"r1","id":"m%d","data":{"n":%d}}`, i, i))
	}
	for _, id := range ids {
		var seqs []float64
		for _, f := range r.api.frames(id) {
			if f["type"] == "echo.said" {
				seqs = append(seqs, f["seq"].(float64))
			}
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("%s: seqs %v", id, seqs)
			}
		}
		if len(seqs) != 5 {
			t.Fatalf("%s: %d events", id, len(seqs))
		}
	}
	// The caller gets its own copy of each event before its ack.
	if got := strings.Join(r.api.types("A"), ","); got != strings.Repeat("echo.said,ack,", 4)+"echo.said,ack" {
		t.Fatalf("frames to A: %s", got)
	}
}

func TestGoneIsPrunedAndLeaveAnnounced(t *testing.T) {
	r := newRig(t)
	r.connect("A", "ann", time.Hour)
	r.connect("B", "bob", time.Hour)
	r.send("A", `{"type":"join","room":"r1","id":"j"}`)
	r.send("B", `{"type":"join","room":"r1","id":"j"}`)
	r.api.mu.Lock()
	r.api.gone["B"] = true
	r.api.mu.Unlock()
	r.send("A", `{"type":"echo.say","room":"r1","id":"m","data":{}}`)
	members, err := r.store.Members(context.Background(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Conn != "A" {
		t.Fatalf("members after 410: %+v", members)
	}
	if got := strings.Join(r.api.types("A"), ","); !strings.HasSuffix(got, "echo.said,ack,echo.left") {
		t.Fatalf("A saw %s", got)
	}
	r.emf.Flush()
	if !strings.Contains(r.out.String(), `"Pruned":1`) {
		t.Fatalf("no Pruned metric in %s", r.out.String())
	}
}

// TestSweepAsksAPIGatewayFirst: B sends nothing for longer than the
// liveness TTL while A keeps talking. Whether B is removed depends on what
// API Gateway says of it: a member that only listens is still connected
// and must keep receiving; one whose $disconnect was lost is gone; an
// unanswered lookup removes nobody and is asked again at the next sweep.
func TestSweepAsksAPIGatewayFirst(t *testing.T) {
	tests := []struct {
		name       string
		say        bool  // A's frames are messages fanned out to B (else pings)
		status     []int // API Gateway's answers to B's lookups (none: connected)
		gone       bool  // B is gone (every lookup 410)
		wantMember bool
		wantMetric string
	}{
		{name: "listening member stays", say: true, wantMember: true, wantMetric: `"SweptAlive":`},
		{name: "lost $disconnect is swept", gone: true, wantMember: false, wantMetric: `"Swept":1`},
		{name: "failed lookups keep it until one answers", status: []int{500, 500}, wantMember: true, wantMetric: `"SweptAlive":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.connect("A", "ann", time.Hour)
			r.connect("B", "bob", time.Hour)
			r.send("A", `{"type":"join","room":"r1","id":"j"}`)
			r.send("B", `{"type":"join","room":"r1","id":"j"}`)
			r.api.mu.Lock()
			r.api.gone["B"] = tt.gone
			r.api.mu.Unlock()
			for i := range 8 {
				r.clk.Add(25 * time.Second)
				if i == 2 {
					// B's liveness (1 min) lapses now: the next two
					// sweeps' lookups fail in the failing case.
					r.api.mu.Lock()
					r.api.faults["B"] = tt.status
					r.api.mu.Unlock()
				}
				if tt.say {
					r.send("A", fmt.Sprintf(`{"type":"echo.say","room":"r1","id":"m%d","data":{}}`, i))
				} else {
					r.send("A", `{"type":"ping","id":"p"}`)
				}
			}
			members, _ := r.store.Members(context.Background(), "r1")
			isMember := len(members) == 2
			if isMember != tt.wantMember || members[0].Conn != "A" {
				t.Fatalf("members after B's liveness expired: %+v (want B a member: %v)", members, tt.wantMember)
			}
			r.api.mu.Lock()
			lookups, faultsLeft := len(r.api.gets), len(r.api.faults["B"])
			r.api.mu.Unlock()
			if lookups == 0 || faultsLeft > 0 {
				t.Fatalf("the sweep asked API Gateway %d times, %d scripted failures left", lookups, faultsLeft)
			}
			sawLeave := strings.Contains(strings.Join(r.api.types("A"), ","), "echo.left")
			if sawLeave == tt.wantMember {
				t.Fatalf("A saw B leave: %v, want %v", sawLeave, !tt.wantMember)
			}
			if tt.say {
				// B got every message, the last ones included.
				if n := strings.Count(strings.Join(r.api.types("B"), ","), "echo.said"); n != 8 {
					t.Fatalf("B got %d of 8 messages: %v", n, r.api.types("B"))
				}
			}
			r.emf.Flush()
			if !strings.Contains(r.out.String(), tt.wantMetric) {
				t.Fatalf("no %s metric in %s", tt.wantMetric, r.out.String())
			}
		})
	}
}

// TestSweepWithoutLivenessRemovesSilentConnections: without
// HandlerOptions.Liveness the router's sweep removes a silent connection
// without asking API Gateway (the behaviour before the lookup).
func TestSweepWithoutLivenessRemovesSilentConnections(t *testing.T) {
	r := newRig(t)
	r.h.o.Liveness = nil
	r.connect("A", "ann", time.Hour)
	r.connect("B", "bob", time.Hour)
	r.send("A", `{"type":"join","room":"r1","id":"j"}`)
	r.send("B", `{"type":"join","room":"r1","id":"j"}`)
	for range 5 {
		r.clk.Add(25 * time.Second)
		r.send("A", `{"type":"ping","id":"p"}`)
	}
	members, _ := r.store.Members(context.Background(), "r1")
	if len(members) != 1 || members[0].Conn != "A" {
		t.Fatalf("members after B's liveness expired: %+v", members)
	}
	if got := strings.Join(r.api.types("A"), ","); !strings.Contains(got, "echo.left") {
		t.Fatalf("A never saw B leave: %s", got)
	}
}

func TestTokenExpiryDeletesConnection(t *testing.T) {
	r := newRig(t)
	r.connect("A", "ann", time.Minute)
	r.clk.Add(2 * time.Minute)
	r.send("A", `{"type":"ping","id":"p"}`)
	r.api.mu.Lock()
	defer r.api.mu.Unlock()
	if len(r.api.deletes) != 1 || r.api.deletes[0] != "A" {
		t.Fatalf("deletes: %v", r.api.deletes)
	}
}

func TestMessagesFromUnknownConnectionsCloseThem(t *testing.T) {
	r := newRig(t)
	r.send("ghost", `{"type":"ping","id":"p"}`)
	r.api.mu.Lock()
	defer r.api.mu.Unlock()
	if len(r.api.deletes) != 1 || r.api.deletes[0] != "ghost" {
		t.Fatalf("deletes: %v", r.api.deletes)
	}
}

func TestBadMessages(t *testing.T) {
	r := newRig(t)
	r.connect("A", "ann", time.Hour)
	tests := []struct {
		name  string
		event events.APIGatewayWebsocketProxyRequest
		code  string
	}{
		{"binary", func() events.APIGatewayWebsocketProxyRequest {
			e := wsEvent("MESSAGE", "A", "eyJ0eXBlIjoicGluZyJ9", nil)
			e.IsBase64Encoded = true
			return e
		}(), "bad_request"},
		{"above 128 KB", wsEvent("MESSAGE", "A", `{"type":"ping","id":"`+strings.Repeat("x", MaxMessageBytes)+`"}`, nil), "too_large"},
		{"not json", wsEvent("MESSAGE", "A", `hello`, nil), "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.api.reset()
			if _, err := r.h.Handle(context.Background(), tt.event); err != nil {
				t.Fatal(err)
			}
			fs := r.api.frames("A")
			if len(fs) != 1 || fs[0]["code"] != tt.code {
				t.Fatalf("got %v, want error %s", fs, tt.code)
			}
		})
	}
}

func TestSenderRetries(t *testing.T) {
	tests := []struct {
		name     string
		faults   []int
		gone     bool
		wantErr  error
		outcome  string
		attempts int
	}{
		{"ok", nil, false, nil, "ok", 1},
		{"throttled twice", []int{429, 429}, false, nil, "ok", 3},
		{"5xx then ok", []int{500, 503}, false, nil, "ok", 3},
		{"gone", nil, true, core.ErrNotFound, "gone", 1},
		{"too large is not retried", []int{413}, false, errAny, "too_large", 1},
		{"forbidden is not retried", []int{403}, false, errAny, "forbidden", 1},
		{"5xx beyond the budget", repeat(500, 1000), false, errAny, "failed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.faults["C"] = tt.faults
			api.gone["C"] = tt.gone
			m := &recMetrics{}
			s := newTestSender(t, api, m)
			if tt.outcome == "failed" {
				// A clock that jumps past the budget after a few tries.
				var n int
				base := time.Now()
				s.o.Now = func() time.Time { n++; return base.Add(time.Duration(n) * 200 * time.Millisecond) }
			}
			err := s.Send(context.Background(), "C", []byte(`{"type":"x"}`))
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr != nil && err == nil:
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if m.outcome != tt.outcome || (tt.attempts > 0 && m.attempts != tt.attempts) {
				t.Fatalf("outcome %s after %d attempts, want %s after %d", m.outcome, m.attempts, tt.outcome, tt.attempts)
			}
			if !api.signed {
				t.Fatal("requests were not SigV4-signed")
			}
		})
	}
}

var errAny = errors.New("any error")

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

type recMetrics struct {
	NopSenderMetrics
	mu       sync.Mutex
	outcome  string
	attempts int
}

func (m *recMetrics) Posted(outcome string, attempts int, _ time.Duration) {
	m.mu.Lock()
	m.outcome, m.attempts = outcome, attempts
	m.mu.Unlock()
}

func TestOversizeOutboundFrameIsNotPosted(t *testing.T) {
	api := newFakeAPI(t)
	m := &recMetrics{}
	s := newTestSender(t, api, m)
	if err := s.Send(context.Background(), "C", bytes.Repeat([]byte("x"), MaxMessageBytes+1)); err == nil {
		t.Fatal("oversize frame accepted")
	}
	if api.posts != 0 || m.outcome != "too_large" {
		t.Fatalf("posts %d, outcome %s", api.posts, m.outcome)
	}
}

func TestBoundedParallelFanout(t *testing.T) {
	api := newFakeAPI(t)
	s := newTestSender(t, api, nil)
	s.o.Workers = 3
	ctx, b := s.begin(context.Background(), api.endpoint(), "caller", false)
	for i := range 50 {
		for _, id := range []core.ConnID{"a", "b", "c", "d", "e", "caller"} {
			_ = s.Send(ctx, id, fmt.Appendf(nil, `{"type":"t","n":%d}`, i))
		}
	}
	b.flush()
	if b.peak > 3 {
		t.Fatalf("%d workers ran at once, limit 3", b.peak)
	}
	for _, id := range []core.ConnID{"a", "b", "c", "d", "e", "caller"} {
		fs := api.frames(id)
		if len(fs) != 50 {
			t.Fatalf("%s got %d frames", id, len(fs))
		}
		for i, f := range fs {
			if f["n"].(float64) != float64(i) {
				t.Fatalf("%s: frame %d is n=%v", id, i, f["n"])
			}
		}
	}
}

// TestStalledMemberNeverDelaysTheAck: a member whose post hangs (its socket
// is full) does not hold up the sender's ack, which is posted while that
// post still hangs; the hung post ends at PostTimeout, and the member is
// closed as a slow consumer and pruned (its user leaves the room).
func TestStalledMemberNeverDelaysTheAck(t *testing.T) {
	r := newRig(t)
	for i, id := range []core.ConnID{"A", "B", "S"} {
		r.connect(id, fmt.Sprint("u", i), time.Hour)
		r.send(id, `{"type":"join","room":"r1","id":"j"}`)
	}
	r.h.o.Sender.o.PostTimeout = 300 * time.Millisecond
	r.api.reset()
	release := make(chan struct{})
	stalling := make(chan struct{})
	var ackWhileStalled bool
	r.api.mu.Lock()
	r.api.hold = func(ctx context.Context, id core.ConnID, body string) {
		switch {
		case id == "S" && strings.Contains(body, `"echo.said"`):
			r.api.mu.Lock()
			r.api.stalled++
			r.api.mu.Unlock()
			close(stalling)
			// Hangs until the sender gives up (its post timeout) or the
			// test ends.
			select {
			case <-release:
			case <-ctx.Done():
			}
			r.api.mu.Lock()
			r.api.stalled--
			r.api.mu.Unlock()
		case id == "A" && strings.Contains(body, `"ack"`):
			// The stalled post has begun; is it still hanging when the
			// ack arrives?
			select {
			case <-stalling:
			case <-ctx.Done():
			}
			r.api.mu.Lock()
			ackWhileStalled = r.api.stalled > 0
			r.api.mu.Unlock()
		}
	}
	r.api.mu.Unlock()
	r.send("A", `{"type":"echo.say","room":"r1","id":"m1","data":{}}`)
	close(release)
	if !ackWhileStalled {
		t.Fatal("the ack was not posted while the stalled member's post hung")
	}
	if got := r.api.types("B"); len(got) != 2 || got[0] != "echo.said" || got[1] != "echo.left" {
		t.Fatalf("B got %v, want the event and the stalled member's leave", got)
	}
	r.api.mu.Lock()
	defer r.api.mu.Unlock()
	if len(r.api.deletes) != 1 || r.api.deletes[0] != "S" {
		t.Fatalf("deletes %v, want the stalled member closed", r.api.deletes)
	}
}

// TestMetricsAggregatedPerInterval: an environment writes its metrics at
// most every MetricsEvery (the first invocation, then once the interval
// passed), with every invocation counted; the latency values of one
// metric are a bounded sample, the counts exact.
func TestMetricsAggregatedPerInterval(t *testing.T) {
	r := newRig(t)
	r.connect("A", "ann", time.Hour) // the environment's first write
	r.out.Reset()
	for i := range 6 {
		r.send("A", fmt.Sprintf(`{"type":"ping","id":"p%d"}`, i+1))
	}
	if n := strings.Count(r.out.String(), `"_aws"`); n != 0 {
		t.Fatalf("%d EMF lines written within the interval", n)
	}
	r.clk.Add(DefaultMetricsEvery)
	r.send("A", `{"type":"ping","id":"last"}`)
	var invocations float64
	for _, l := range strings.Split(strings.TrimSpace(r.out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["Route"] == "$default" {
			invocations, _ = m["Invocations"].(float64)
		}
	}
	if invocations != 7 {
		t.Fatalf("%v $default invocations in the interval's lines, want 7:\n%s", invocations, r.out.String())
	}

	var out bytes.Buffer
	m := NewEMF(&out, "Classgate", "fn", nil)
	for i := range 3 * MaxSamples {
		m.Invocation("$default", time.Duration(i)*time.Microsecond, nil)
	}
	m.Flush()
	values, count := 0, 0.0
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var doc map[string]any
		_ = json.Unmarshal([]byte(l), &doc)
		if vs, ok := doc["Duration"].([]any); ok {
			values += len(vs)
		}
		if c, ok := doc["Invocations"].(float64); ok {
			count += c
		}
	}
	if values != MaxSamples || count != 3*MaxSamples {
		t.Fatalf("%d Duration values (want the %d-value sample), %v invocations counted (want %d)", values, MaxSamples, count, 3*MaxSamples)
	}
}

// TestMetricSamples: SetSamples bounds the latency values a write keeps
// (0: counts only), while counts stay exact.
func TestMetricSamples(t *testing.T) {
	tests := []struct {
		name       string
		set        int // -1: leave the default
		wantValues int
	}{
		{"default", -1, MaxSamples},
		{"fewer", 20, 20},
		{"counts only", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := NewEMF(&out, "Classgate", "fn", nil)
			if tt.set >= 0 {
				m.SetSamples(tt.set)
			}
			const n = 2 * MaxSamples
			for i := range n {
				m.Invocation("$default", time.Duration(i)*time.Microsecond, nil)
			}
			m.Flush()
			values, count := 0, 0.0
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var doc map[string]any
				if err := json.Unmarshal([]byte(l), &doc); err != nil {
					t.Fatalf("not JSON: %s", l)
				}
				switch vs := doc["Duration"].(type) {
				case []any:
					values += len(vs)
				case float64:
					values++
				}
				if c, ok := doc["Invocations"].(float64); ok {
					count += c
				}
			}
			if values != tt.wantValues || count != n {
				t.Fatalf("%d Duration values (want %d), %v invocations counted (want %d)", values, tt.wantValues, count, n)
			}
		})
	}
}
