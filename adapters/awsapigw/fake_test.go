package awsapigw

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/classgate/classgate/core"
)

// fakeAPI is a loopback Management API: it records posts and deletes and
// answers with scripted faults, with the x-amzn-ErrorType header the SDK
// reads.
type fakeAPI struct {
	srv *httptest.Server

	mu      sync.Mutex
	log     []call                // every successful post/delete, in order
	faults  map[core.ConnID][]int // statuses to answer before succeeding
	gone    map[core.ConnID]bool  // always 410
	posts   int                   // attempts, including faults
	signed  bool                  // every request carried a SigV4 header
	deletes []core.ConnID
	gets    []core.ConnID // GetConnection lookups, whatever the answer
	// hold, when set, is called (without mu) before a request is answered:
	// a test makes a post hang there.
	hold    func(ctx context.Context, id core.ConnID, body string)
	stalled int
}

type call struct {
	conn core.ConnID
	data string
	del  bool
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	f := &fakeAPI{faults: map[core.ConnID][]int{}, gone: map[core.ConnID]bool{}, signed: true}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) endpoint() string { return f.srv.URL + "/test" }

var errorTypes = map[int]string{
	http.StatusGone:                  "GoneException",
	http.StatusTooManyRequests:       "LimitExceededException",
	http.StatusRequestEntityTooLarge: "PayloadTooLargeException",
	http.StatusForbidden:             "ForbiddenException",
	http.StatusInternalServerError:   "InternalServerErrorException",
	http.StatusServiceUnavailable:    "ServiceUnavailableException",
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	const prefix = "/test/@connections/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		http.NotFound(w, r)
		return
	}
	id := core.ConnID(strings.TrimPrefix(r.URL.Path, prefix))
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		hold(r.Context(), id, string(body))
		if r.Context().Err() != nil {
			return // the client gave up (post timeout)
		}
	}
	f.mu.Lock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		f.signed = false
	}
	if r.Method == http.MethodGet {
		f.gets = append(f.gets, id)
	} else {
		f.posts++
	}
	status := http.StatusOK
	if f.gone[id] {
		status = http.StatusGone
	} else if q := f.faults[id]; len(q) > 0 {
		status = q[0]
		f.faults[id] = q[1:]
	}
	if status == http.StatusOK && r.Method != http.MethodGet {
		f.log = append(f.log, call{conn: id, data: string(body), del: r.Method == http.MethodDelete})
		if r.Method == http.MethodDelete {
			f.deletes = append(f.deletes, id)
		}
	}
	f.mu.Unlock()
	if status != http.StatusOK {
		w.Header().Set("x-amzn-ErrorType", errorTypes[status])
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"%s"}`, errorTypes[status])
		return
	}
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"connectedAt":"2026-12-01T08:00:00Z","lastActiveAt":"2026-12-01T08:00:00Z","identity":{"sourceIp":"127.0.0.1","userAgent":"test"}}`)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// frames returns the frames posted to id, decoded.
func (f *fakeAPI) frames(id core.ConnID) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, c := range f.log {
		if c.conn == id && !c.del {
			var m map[string]any
			_ = json.Unmarshal([]byte(c.data), &m)
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeAPI) types(id core.ConnID) []string {
	var out []string
	for _, m := range f.frames(id) {
		out = append(out, fmt.Sprint(m["type"]))
	}
	return out
}

func (f *fakeAPI) reset() {
	f.mu.Lock()
	f.log = nil
	f.mu.Unlock()
}

// newTestSender builds a Sender against f with a fast, recorded clock.
func newTestSender(t *testing.T, f *fakeAPI, metrics SenderMetrics) *Sender {
	t.Helper()
	s, err := NewSender(context.Background(), SenderOptions{Endpoint: f.endpoint(), Budget: time.Second, Metrics: metrics, Logger: quiet,
		Sleep: func(ctx context.Context, d time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wsEvent builds an API Gateway WebSocket event.
func wsEvent(kind string, id core.ConnID, body string, authz map[string]any) events.APIGatewayWebsocketProxyRequest {
	route := map[string]string{"CONNECT": "$connect", "DISCONNECT": "$disconnect", "MESSAGE": "$default"}[kind]
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: string(id), EventType: kind, RouteKey: route,
			DomainName: "example.execute-api.eu-west-1.amazonaws.com", Stage: "test",
			Authorizer: authz,
		},
	}
}
