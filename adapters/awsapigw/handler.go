package awsapigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/classgate/classgate/core"
)

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Router must be built with Direct: true, Sender: the Sender below.
	Router *core.Router
	Sender *Sender
	// Metrics is flushed (EMF lines on stdout) after every invocation;
	// nil: no metrics.
	Metrics *EMF
	// SweepEvery is how often this execution environment runs
	// Router.Sweep (default 30s): at the end of the first invocation after
	// that much time passed since its last sweep. Sweeping removes
	// connections whose liveness expired — API Gateway's $disconnect is
	// best effort — and announces their users' leave. 0 takes the default;
	// a negative value disables sweeping.
	SweepEvery time.Duration
	// SweepLimit bounds the connections one sweep removes (default 64).
	SweepLimit int
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

	mu        sync.Mutex
	lastSweep time.Time
	sweeping  bool
}

// NewHandler checks o and returns a Handler.
func NewHandler(o HandlerOptions) (*Handler, error) {
	if o.Router == nil || o.Sender == nil {
		return nil, errors.New("awsapigw: handler needs a Router and a Sender")
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = 30 * time.Second
	}
	if o.SweepLimit <= 0 {
		o.SweepLimit = 64
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
// return.
func (h *Handler) Start() { lambda.Start(h.Handle) }

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
	discard := rc.EventType == "CONNECT"
	ctx, b := h.o.Sender.begin(ctx, endpoint, id, discard)
	resp, err := h.dispatch(ctx, req, id)
	h.finish(ctx, b)
	if b.dropped > 0 {
		h.log.Warn("frames sent during $connect were dropped (API Gateway cannot deliver them yet)", "conn", id, "frames", b.dropped)
	}
	if m := h.o.Metrics; m != nil {
		m.Invocation(route, h.o.Now().Sub(start), err)
		m.Flush()
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
		return ok, nil
	case "DISCONNECT":
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
	if b.discard || !h.sweepDue() {
		return
	}
	n, err := h.o.Router.Sweep(ctx, h.o.SweepLimit)
	h.mu.Lock()
	h.sweeping = false
	h.mu.Unlock()
	if err != nil {
		h.log.Warn("sweep failed", "err", err)
	}
	if n > 0 {
		h.log.Info("swept expired connections", "n", n)
		if h.o.Metrics != nil {
			h.o.Metrics.Swept(n)
		}
	}
	for _, g := range b.flush() {
		_ = h.o.Router.Disconnect(ctx, g)
	}
	b.flush()
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
