package awsapigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/classgate/classgate/adapters/awsapigw/defaults"
	"github.com/classgate/classgate/core"
)

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Router must be built with Direct: true, Sender: the Sender below.
	Router *core.Router
	Sender *Sender
	// Metrics aggregates each invocation's metrics and writes them (EMF
	// lines on stdout) at most every MetricsEvery; nil: no metrics.
	Metrics *EMF
	// MetricsEvery is how often an execution environment writes its
	// aggregated metrics (default 60s, CloudWatch's standard resolution):
	// at the end of the first invocation after that long. Fewer, fuller
	// lines keep the log bill — paid per GB ingested — a small part of the
	// cost (docs/LAMBDA.md). What an environment aggregated after its last
	// write is lost if Lambda retires it before its next invocation.
	// Negative: after every invocation.
	MetricsEvery time.Duration
	// SweepEvery is how often this execution environment runs
	// Router.Sweep (default 30s): at the end of the first invocation after
	// that much time passed since its last sweep. Sweeping removes
	// connections whose liveness expired — API Gateway's $disconnect is
	// best effort — and announces their users' leave. 0 takes the default;
	// a negative value disables sweeping.
	SweepEvery time.Duration
	// SweepLimit bounds the connections one sweep removes (default 64).
	SweepLimit int
	// Liveness, when set, makes the sweep ask API Gateway first: each
	// connection whose liveness expired in the registry is looked up
	// (Sender.Alive, GetConnection); one API Gateway still holds is alive
	// and touched, not removed — a member that only listens sends nothing
	// (its client pings only when nothing arrives), so its registry
	// liveness lapses although its socket is fine. Only connections API
	// Gateway answers 410 for are disconnected (their $disconnect was
	// lost); an unanswered lookup is retried at the next sweep. nil: the
	// router's sweep (Router.Sweep) removes every expired connection.
	// Clients then need not ping for liveness, only for API Gateway's
	// 10-minute idle timeout (docs/LAMBDA.md). *redis.Store implements it.
	Liveness LivenessStore
	// Expiry, when set, indexes every connection's token expiry in Redis
	// (a sorted set under Key("texp")) so that the function closes a
	// connection whose token expired even when it sends nothing: every
	// ExpiryEvery (default 1s) at the end of an invocation, and on every
	// scheduled event (HandleScheduled; the SAM template invokes the
	// function every minute), up to SweepLimit connections are deleted
	// (API Gateway closes them with 1000, see LambdaCloseCode) and
	// disconnected (presence.leave is announced). nil: expiry is only
	// noticed on the connection's next frame.
	Expiry ExpiryStore
	// ExpiryEvery: see Expiry (0: 1s; negative: only on scheduled events).
	ExpiryEvery time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Handler turns API Gateway WebSocket events into router calls. One
// Handler serves every route ($connect, $disconnect, $default); build it
// once, before lambda.Start. It is safe for concurrent use.
type Handler struct {
	o   HandlerOptions
	log *slog.Logger

	mu         sync.Mutex
	lastFlush  time.Time
	lastSweep  time.Time
	sweeping   bool
	lastExpiry time.Time
	endpoint   string // the last event's Management API endpoint
}

// LivenessStore is the part of the registry (core.Registry) the sweep
// uses when HandlerOptions.Liveness is set.
type LivenessStore interface {
	Expired(ctx context.Context, limit int) ([]core.ConnID, error)
	Touch(ctx context.Context, ids ...core.ConnID) error
}

// ExpiryStore is what the token-expiry index needs of Redis;
// *redis.Store (adapters/redis) implements it.
type ExpiryStore interface {
	Eval(ctx context.Context, src string, keys []string, args ...any) (any, error)
	Key(suffix string) string
}

// LambdaCloseCode is the close code a client sees when the function
// closes its connection (DeleteConnection): API Gateway chooses it, so
// where the standalone server sends 4001 (token expired), 4008 (slow
// consumer), 1008 (abuse) or 1013 (try again later), a client of the
// Lambda deployment sees this one. docs/LAMBDA.md lists it with the other
// differences.
const LambdaCloseCode = 1000

// expiredScript takes up to ARGV[2] connections whose expiry (ms) is at
// or before ARGV[1] out of the index KEYS[1] and returns them.
const expiredScript = `
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids`

// NewHandler checks o and returns a Handler.
func NewHandler(o HandlerOptions) (*Handler, error) {
	if o.Router == nil || o.Sender == nil {
		return nil, errors.New("awsapigw: handler needs a Router and a Sender")
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = defaults.SweepEvery
	}
	if o.SweepLimit <= 0 {
		o.SweepLimit = defaults.SweepLimit
	}
	if o.ExpiryEvery == 0 {
		o.ExpiryEvery = defaults.ExpiryEvery
	}
	if o.MetricsEvery == 0 {
		o.MetricsEvery = DefaultMetricsEvery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// The first invocation of an environment sweeps: a new environment
	// often means traffic after a quiet time.
	return &Handler{o: o, log: o.Logger}, nil
}

// Start runs the handler as the Lambda function's handler; it does not
// return. API Gateway events go to Handle, scheduled events (EventBridge,
// "source": "aws.events") to HandleScheduled.
func (h *Handler) Start() { lambda.Start(h.HandleRaw) }

// HandleRaw dispatches one invocation's payload: an API Gateway WebSocket
// event (it has a requestContext) to Handle, anything else — the
// scheduled sweep's EventBridge event — to HandleScheduled.
func (h *Handler) HandleRaw(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		RequestContext *json.RawMessage `json:"requestContext"`
		Source         string           `json:"source"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("awsapigw: undecodable event: %w", err)
	}
	if probe.RequestContext == nil {
		if probe.Source != "aws.events" {
			h.log.Warn("event of unknown kind: running the scheduled sweep", "source", probe.Source)
		}
		return nil, h.HandleScheduled(ctx)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("awsapigw: undecodable API Gateway event: %w", err)
	}
	return h.Handle(ctx, req)
}

// HandleScheduled runs the sweeps (expired tokens, then silent
// connections) outside any client event: the only way a function closes a
// connection in time when nothing else invokes it. It needs
// SenderOptions.Endpoint, or an API Gateway event seen earlier by this
// execution environment, to know where to delete connections.
func (h *Handler) HandleScheduled(ctx context.Context) error {
	start := h.o.Now()
	h.mu.Lock()
	endpoint := h.endpoint
	h.mu.Unlock()
	if h.o.Sender.o.Endpoint != "" {
		endpoint = h.o.Sender.o.Endpoint
	}
	if endpoint == "" {
		h.log.Warn("scheduled sweep skipped: no Management API endpoint (set CLASSGATE_LAMBDA__ENDPOINT)")
		return nil
	}
	ctx, b := h.o.Sender.begin(ctx, endpoint, "", false)
	h.mu.Lock()
	h.lastSweep = time.Time{}
	h.mu.Unlock()
	h.closeExpired(ctx, b, true)
	h.finish(ctx, b)
	if m := h.o.Metrics; m != nil {
		m.Invocation("scheduled", h.o.Now().Sub(start), nil)
		h.flushMetrics()
	}
	return nil
}

// Handle serves one API Gateway WebSocket event. Protocol problems are
// answered on the connection; the returned error is reserved for failures
// API Gateway should see (it then answers the client "Internal server
// error").
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	start := h.o.Now()
	rc := req.RequestContext
	id := core.ConnID(rc.ConnectionID)
	route := rc.RouteKey
	if route == "" {
		route = rc.EventType
	}
	endpoint := h.o.Sender.endpointFor(rc.DomainName, rc.Stage)
	h.mu.Lock()
	h.endpoint = endpoint
	h.mu.Unlock()
	discard := rc.EventType == "CONNECT"
	ctx, b := h.o.Sender.begin(ctx, endpoint, id, discard)
	resp, err := h.dispatch(ctx, req, id)
	h.finish(ctx, b)
	if b.dropped > 0 {
		h.log.Warn("frames sent during $connect were dropped (API Gateway cannot deliver them yet)", "conn", id, "frames", b.dropped)
	}
	if m := h.o.Metrics; m != nil {
		m.Invocation(route, h.o.Now().Sub(start), err)
		h.flushMetrics()
	}
	return resp, err
}

func (h *Handler) dispatch(ctx context.Context, req events.APIGatewayWebsocketProxyRequest, id core.ConnID) (events.APIGatewayProxyResponse, error) {
	ok := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	switch req.RequestContext.EventType {
	case "CONNECT":
		info, err := ConnInfo(req.RequestContext.Authorizer, id)
		if err != nil {
			// Reachable when the route has no authorizer, or its
			// context is not one this version writes: refuse.
			h.log.Error("$connect without a usable authorizer context", "conn", id, "err", err)
			return events.APIGatewayProxyResponse{StatusCode: http.StatusUnauthorized}, nil
		}
		if err := h.o.Router.Connect(ctx, info); err != nil {
			h.log.Error("connect failed", "conn", id, "err", err)
			return events.APIGatewayProxyResponse{StatusCode: http.StatusServiceUnavailable}, nil
		}
		if h.o.Expiry != nil && !info.Expires.IsZero() {
			if _, err := h.o.Expiry.Eval(ctx, `return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])`,
				[]string{h.o.Expiry.Key("texp")}, info.Expires.UnixMilli(), string(id)); err != nil {
				// The connection stays: its expiry is still noticed on its
				// next frame.
				h.log.Warn("token expiry not indexed", "conn", id, "err", err)
			}
		}
		return ok, nil
	case "DISCONNECT":
		if h.o.Expiry != nil {
			if _, err := h.o.Expiry.Eval(ctx, `return redis.call('ZREM', KEYS[1], ARGV[1])`,
				[]string{h.o.Expiry.Key("texp")}, string(id)); err != nil {
				h.log.Warn("token expiry not unindexed", "conn", id, "err", err)
			}
		}
		if err := h.o.Router.Disconnect(ctx, id); err != nil {
			h.log.Warn("disconnect failed", "conn", id, "err", err)
		}
		return ok, nil
	case "MESSAGE":
		body := req.Body
		if req.IsBase64Encoded {
			// A binary frame: the router answers bad_request after the
			// same gate as text frames (expiry; the rate limit where the
			// router keeps one).
			body = ""
		}
		if len(body) > MaxMessageBytes {
			// API Gateway refuses these itself (close 1009); never
			// trust it blindly.
			_ = h.o.Sender.Send(ctx, id, (&core.Out{Type: "error", Code: core.CodeTooLarge, Message: fmt.Sprintf("message of %d bytes exceeds %d", len(body), MaxMessageBytes)}).Encode())
			return ok, nil
		}
		var err error
		if req.IsBase64Encoded {
			err = h.o.Router.ReceiveBinary(ctx, id)
		} else {
			err = h.o.Router.Receive(ctx, id, []byte(body))
		}
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				// The registry forgot the connection (swept after a long
				// silence, or its $connect failed half way): close it so
				// the client reconnects and re-joins with since.
				h.log.Info("message from an unknown connection: closing it", "conn", id)
				_ = h.o.Sender.Close(ctx, id, core.CloseTryLater, "unknown connection")
				return ok, nil
			}
			h.log.Warn("receive failed", "conn", id, "err", err)
		}
		return ok, nil
	}
	h.log.Warn("unexpected event type", "type", req.RequestContext.EventType, "route", req.RequestContext.RouteKey)
	return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, nil
}

// finish flushes the invocation's deliveries, disconnects the connections
// API Gateway reported gone (their leave events are delivered too), and
// sweeps expired connections when it is time.
func (h *Handler) finish(ctx context.Context, b *batch) {
	gone := b.flush()
	for round := 0; len(gone) > 0 && round < 3; round++ {
		for _, g := range gone {
			h.log.Info("pruning gone connection", "conn", g)
			if err := h.o.Router.Disconnect(ctx, g); err != nil {
				h.log.Warn("prune failed", "conn", g, "err", err)
			}
		}
		if h.o.Metrics != nil {
			h.o.Metrics.Pruned(len(gone))
		}
		gone = b.flush()
	}
	if b.discard {
		return
	}
	h.closeExpired(ctx, b, false)
	if !h.sweepDue() {
		return
	}
	n, kept, err := h.sweep(ctx, b.endpoint)
	h.mu.Lock()
	h.sweeping = false
	h.mu.Unlock()
	if err != nil {
		h.log.Warn("sweep failed", "err", err)
	}
	if n > 0 || kept > 0 {
		h.log.Info("swept expired connections", "n", n, "alive", kept)
		if h.o.Metrics != nil && n > 0 {
			h.o.Metrics.Swept(n)
		}
		if h.o.Metrics != nil && kept > 0 {
			h.o.Metrics.SweptAlive(kept)
		}
	}
	for _, g := range b.flush() {
		_ = h.o.Router.Disconnect(ctx, g)
	}
	b.flush()
}

// DefaultMetricsEvery is HandlerOptions.MetricsEvery's default.
const DefaultMetricsEvery = defaults.MetricsEvery

// flushMetrics settles the invocation's metrics and writes them when due.
func (h *Handler) flushMetrics() {
	m := h.o.Metrics
	m.Settle()
	h.mu.Lock()
	now := h.o.Now()
	due := h.o.MetricsEvery < 0 || h.lastFlush.IsZero() || now.Sub(h.lastFlush) >= h.o.MetricsEvery
	if due {
		h.lastFlush = now
	}
	h.mu.Unlock()
	if due {
		m.Flush()
	}
}

// closeExpired closes and disconnects the connections whose token expired
// (see HandlerOptions.Expiry), when this environment's turn came or force
// (a scheduled invocation).
func (h *Handler) closeExpired(ctx context.Context, b *batch, force bool) {
	if h.o.Expiry == nil {
		return
	}
	h.mu.Lock()
	now := h.o.Now()
	due := force || (h.o.ExpiryEvery > 0 && (h.lastExpiry.IsZero() || now.Sub(h.lastExpiry) >= h.o.ExpiryEvery))
	if due {
		h.lastExpiry = now
	}
	h.mu.Unlock()
	if !due {
		return
	}
	res, err := h.o.Expiry.Eval(ctx, expiredScript, []string{h.o.Expiry.Key("texp")}, now.UnixMilli(), h.o.SweepLimit)
	if err != nil {
		h.log.Warn("token expiry sweep failed", "err", err)
		return
	}
	ids, _ := res.([]any)
	for _, v := range ids {
		id := core.ConnID(fmt.Sprint(v))
		h.log.Info("token expired: closing the connection", "conn", id)
		_ = h.o.Sender.Close(ctx, id, core.CloseTokenExpired, "token expired")
		if err := h.o.Router.Disconnect(ctx, id); err != nil {
			h.log.Warn("disconnect of an expired connection failed", "conn", id, "err", err)
		}
	}
	for _, g := range b.flush() {
		_ = h.o.Router.Disconnect(ctx, g)
	}
	b.flush()
}

// sweep disconnects up to SweepLimit connections whose liveness expired,
// asking API Gateway first when Liveness is set (see there). It returns
// how many it disconnected and how many API Gateway still held (touched).
func (h *Handler) sweep(ctx context.Context, endpoint string) (swept, alive int, err error) {
	if h.o.Liveness == nil {
		n, err := h.o.Router.Sweep(ctx, h.o.SweepLimit)
		return n, 0, err
	}
	ids, err := h.o.Liveness.Expired(ctx, h.o.SweepLimit)
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	// Look them up in parallel (as many at once as posts).
	state := make([]int8, len(ids)) // 1 alive, -1 gone, 0 unknown
	sem := make(chan struct{}, h.o.Sender.o.Workers)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := h.o.Sender.Alive(ctx, endpoint, id)
			switch {
			case err != nil:
				h.log.Warn("sweep: connection lookup failed (checked again at the next sweep)", "conn", id, "err", err)
			case ok:
				state[i] = 1
			default:
				state[i] = -1
			}
		}()
	}
	wg.Wait()
	var live []core.ConnID
	for i, id := range ids {
		switch state[i] {
		case 1:
			live = append(live, id)
		case -1:
			if err := h.o.Router.Disconnect(ctx, id); err != nil {
				return swept, len(live), fmt.Errorf("awsapigw: sweep: %w", err)
			}
			swept++
		}
	}
	if len(live) > 0 {
		if err := h.o.Liveness.Touch(ctx, live...); err != nil {
			return swept, 0, fmt.Errorf("awsapigw: sweep: touch %d live connections: %w", len(live), err)
		}
	}
	return swept, len(live), nil
}

// sweepDue reports (and claims) the environment's next sweep.
func (h *Handler) sweepDue() bool {
	if h.o.SweepEvery < 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.o.Now()
	if h.sweeping || (!h.lastSweep.IsZero() && now.Sub(h.lastSweep) < h.o.SweepEvery) {
		return false
	}
	h.lastSweep = now
	h.sweeping = true
	return true
}
