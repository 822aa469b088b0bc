package awsapigw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/classgate/classgate/adapters/awsapigw/defaults"
	"github.com/classgate/classgate/core"
)

// API Gateway limits (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
const (
	// MaxFrameBytes is API Gateway's WebSocket frame size limit.
	MaxFrameBytes = 32 << 10
	// MaxMessageBytes is API Gateway's message payload limit, for client
	// messages and for PostToConnection data alike.
	MaxMessageBytes = 128 << 10
)

// SenderOptions configure a Sender. Zero values take the defaults shown.
type SenderOptions struct {
	// Endpoint is the Management API endpoint, e.g.
	// "https://abc123.execute-api.eu-west-1.amazonaws.com/prod" or the
	// emulator's "http://127.0.0.1:8090/local". Empty: derived from each
	// event as https://{domainName}/{stage}.
	Endpoint string
	// Region of the API (default: AWS_REGION from the environment, then
	// "us-east-1").
	Region string
	// Workers is the number of posts in flight at once per invocation (16).
	Workers int
	// Budget bounds the retries of one post after throttling or a 5xx (2s).
	// It never extends past the invocation's deadline.
	Budget time.Duration
	// PostTimeout bounds one PostToConnection attempt (1s). A member whose
	// post does not complete within it (a stalled client whose socket is
	// full) is closed as a slow consumer, so it never holds up the room's
	// next deliveries longer than that.
	PostTimeout time.Duration
	// Order is the per-room ordered hand-off (see OrderOptions); without
	// a Store, concurrent invocations post concurrently.
	Order OrderOptions
	// Logger receives delivery problems (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives post outcomes (default none; EMF implements it).
	Metrics SenderMetrics
	// Now and Sleep are the clock (tests).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// SenderMetrics receives the outcome of every post and delete, and the
// ordered fan-out's waits. Implementations must be safe for concurrent use
// and embed NopSenderMetrics, so that a hook added here breaks none of
// them (the same rule as core.Observer and core.NopObserver).
type SenderMetrics interface {
	// Posted reports a post that ended with outcome ("ok", "gone",
	// "throttled", "too_large", "forbidden", "slow", "failed") after attempts
	// tries, taking d in all.
	Posted(outcome string, attempts int, d time.Duration)
	// Deleted counts one DeleteConnection.
	Deleted(outcome string)
	// OrderWaited reports how long one ordered delivery waited for its
	// room's turn, and whether it gave up waiting (forced).
	OrderWaited(d time.Duration, forced bool)
}

// NopSenderMetrics is a SenderMetrics whose hooks do nothing: the default
// when SenderOptions.Metrics is nil, and the struct implementations embed.
type NopSenderMetrics struct{}

var _ SenderMetrics = NopSenderMetrics{}

// Posted does nothing.
func (NopSenderMetrics) Posted(string, int, time.Duration) {}

// Deleted does nothing.
func (NopSenderMetrics) Deleted(string) {}

// OrderWaited does nothing.
func (NopSenderMetrics) OrderWaited(time.Duration, bool) {}

// Sender implements core.Sender with the API Gateway Management API. It is
// safe for concurrent use. Build it once per process (before lambda.Start),
// with NewSender.
type Sender struct {
	o   SenderOptions
	cfg aws.Config
	log *slog.Logger

	mu      sync.Mutex
	clients map[string]*apigatewaymanagementapi.Client
}

var _ core.Sender = (*Sender)(nil)

// NewSender loads the AWS configuration from the environment (the Lambda
// role's credentials, AWS_REGION) and returns a Sender.
func NewSender(ctx context.Context, o SenderOptions) (*Sender, error) {
	if o.Workers <= 0 {
		o.Workers = defaults.Workers
	}
	if o.Budget <= 0 {
		o.Budget = defaults.PostBudget
	}
	if o.PostTimeout <= 0 {
		o.PostTimeout = DefaultPostTimeout
	}
	if o.Order.Wait <= 0 {
		o.Order.Wait = defaults.OrderWait
	}
	if o.Order.Lease <= 0 {
		o.Order.Lease = defaults.OrderLease
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NopSenderMetrics{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	o.Endpoint = strings.TrimRight(o.Endpoint, "/")
	opts := []func(*awsconfig.LoadOptions) error{
		// We retry ourselves, within a budget, with full jitter.
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 2 * o.Workers
		})),
	}
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("awsapigw: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return &Sender{o: o, cfg: cfg, log: o.Logger, clients: map[string]*apigatewaymanagementapi.Client{}}, nil
}

// client returns the Management API client of endpoint, building it once.
func (s *Sender) client(endpoint string) *apigatewaymanagementapi.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[endpoint]
	if c == nil {
		c = apigatewaymanagementapi.NewFromConfig(s.cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(endpoint)
		})
		s.clients[endpoint] = c
	}
	return c
}

// endpointFor is the Management API endpoint for an event's domain and
// stage (or the configured one).
func (s *Sender) endpointFor(domain, stage string) string {
	if s.o.Endpoint != "" {
		return s.o.Endpoint
	}
	return "https://" + domain + "/" + stage
}

// errGone is returned by post for a connection API Gateway no longer has.
var errGone = fmt.Errorf("awsapigw: connection gone: %w", core.ErrNotFound)

// errSlow is returned by post when one attempt outlasted PostTimeout.
var errSlow = errors.New("awsapigw: post outlasted the post timeout: slow consumer")

// DefaultPostTimeout is SenderOptions.PostTimeout's default.
const DefaultPostTimeout = defaults.PostTimeout

// Send delivers one frame. Inside an invocation (a context from Handler) it
// only enqueues the frame on the connection's lane and returns nil (or
// core.ErrNotFound for a connection already known to be gone); the frame
// is posted before the invocation ends. Outside one it posts synchronously
// to the configured Endpoint.
func (s *Sender) Send(ctx context.Context, id core.ConnID, frame []byte) error {
	if b := batchFrom(ctx); b != nil {
		return b.enqueue(id, op{frame: frame})
	}
	if s.o.Endpoint == "" {
		return fmt.Errorf("awsapigw: send to %s outside an invocation needs SenderOptions.Endpoint", id)
	}
	return s.post(ctx, s.o.Endpoint, id, frame)
}

// Close deletes the connection. API Gateway cannot send a close code of our
// choosing: the client sees the socket close without code (or 1000/1006
// depending on the client); code and reason are only logged.
func (s *Sender) Close(ctx context.Context, id core.ConnID, code int, reason string) error {
	if b := batchFrom(ctx); b != nil {
		return b.enqueue(id, op{close: true, code: code, reason: reason})
	}
	if s.o.Endpoint == "" {
		return fmt.Errorf("awsapigw: close %s outside an invocation needs SenderOptions.Endpoint", id)
	}
	return s.del(ctx, s.o.Endpoint, id, code, reason)
}

// post sends one frame with retries on throttling and 5xx.
func (s *Sender) post(ctx context.Context, endpoint string, id core.ConnID, frame []byte) error {
	start := s.o.Now()
	if len(frame) > MaxMessageBytes {
		s.o.Metrics.Posted("too_large", 0, 0)
		s.log.Error("frame above API Gateway's message limit dropped", "conn", id, "bytes", len(frame), "limit", MaxMessageBytes, "type", frameType(frame))
		return fmt.Errorf("awsapigw: post to %s: %d bytes exceed %d", id, len(frame), MaxMessageBytes)
	}
	deadline := start.Add(s.o.Budget)
	if d, ok := ctx.Deadline(); ok && d.Add(-100*time.Millisecond).Before(deadline) {
		deadline = d.Add(-100 * time.Millisecond)
	}
	c := s.client(endpoint)
	in := &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(string(id)), Data: frame}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.o.PostTimeout)
		_, err := c.PostToConnection(actx, in)
		slow := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if slow {
			s.o.Metrics.Posted("slow", attempt, s.o.Now().Sub(start))
			s.log.Warn("post outlasted the post timeout: closing the connection as a slow consumer", "conn", id, "timeout", s.o.PostTimeout)
			return errSlow
		}
		outcome := classify(err)
		switch outcome {
		case "ok":
			s.o.Metrics.Posted(outcome, attempt, s.o.Now().Sub(start))
			return nil
		case "gone":
			s.o.Metrics.Posted(outcome, attempt, s.o.Now().Sub(start))
			return errGone
		case "throttled", "retry":
			wait := backoff(attempt)
			if s.o.Now().Add(wait).Before(deadline) && ctx.Err() == nil {
				if s.o.Sleep(ctx, wait) == nil {
					continue
				}
			}
			if outcome == "retry" {
				outcome = "failed"
			}
		case "too_large":
			s.log.Error("API Gateway refused a frame as too large", "conn", id, "bytes", len(frame), "type", frameType(frame))
		}
		s.o.Metrics.Posted(outcome, attempt, s.o.Now().Sub(start))
		return fmt.Errorf("awsapigw: post to %s (%s after %d attempts): %w", id, outcome, attempt, err)
	}
}

// Alive asks API Gateway whether it still holds the connection
// (GetConnection, one attempt bounded by PostTimeout): true when it
// answers, false for 410 Gone, an error otherwise (throttled, transport,
// timeout: ask again later). Not a billed message: only client messages
// and posts to @connections are.
func (s *Sender) Alive(ctx context.Context, endpoint string, id core.ConnID) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.PostTimeout)
	defer cancel()
	_, err := s.client(endpoint).GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(string(id))})
	switch classify(err) {
	case "ok":
		return true, nil
	case "gone":
		return false, nil
	}
	return false, fmt.Errorf("awsapigw: get connection %s: %w", id, err)
}

// del deletes a connection (one retry budget, like post).
func (s *Sender) del(ctx context.Context, endpoint string, id core.ConnID, code int, reason string) error {
	s.log.Info("closing connection (API Gateway cannot send the close code)", "conn", id, "code", code, "reason", reason)
	start := s.o.Now()
	c := s.client(endpoint)
	for attempt := 1; ; attempt++ {
		_, err := c.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(string(id))})
		outcome := classify(err)
		switch outcome {
		case "ok", "gone":
			s.o.Metrics.Deleted(outcome)
			return nil
		case "throttled", "retry":
			wait := backoff(attempt)
			if s.o.Now().Add(wait).Before(start.Add(s.o.Budget)) && s.o.Sleep(ctx, wait) == nil {
				continue
			}
		}
		s.o.Metrics.Deleted("failed")
		return fmt.Errorf("awsapigw: delete %s: %w", id, err)
	}
}

// classify maps a Management API error to an outcome.
func classify(err error) string {
	if err == nil {
		return "ok"
	}
	var gone *types.GoneException
	var limit *types.LimitExceededException
	var large *types.PayloadTooLargeException
	var forbidden *types.ForbiddenException
	switch {
	case errors.As(err, &gone):
		return "gone"
	case errors.As(err, &limit):
		return "throttled"
	case errors.As(err, &large):
		return "too_large"
	case errors.As(err, &forbidden):
		return "forbidden"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "failed"
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch st := re.HTTPStatusCode(); {
		case st == http.StatusGone:
			return "gone"
		case st == http.StatusTooManyRequests:
			return "throttled"
		case st >= 500:
			return "retry"
		default:
			return "failed"
		}
	}
	// Transport errors (connection reset, DNS): worth another try.
	return "retry"
}

// backoff is full-jitter exponential backoff: uniform in [0, min(1s,
// 25ms·2^(attempt-1))].
func backoff(attempt int) time.Duration {
	ceil := 25 * time.Millisecond << min(attempt-1, 6)
	if ceil > time.Second {
		ceil = time.Second
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// frameType extracts "type" from an encoded frame for logs (best effort).
func frameType(b []byte) string {
	const key = `{"type":"`
	if len(b) > len(key) && string(b[:len(key)]) == key {
		if i := strings.IndexByte(string(b[len(key):min(len(b), len(key)+80)]), '"'); i >= 0 {
			return string(b[len(key) : len(key)+i])
		}
	}
	return ""
}
