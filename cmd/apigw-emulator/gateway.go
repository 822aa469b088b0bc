package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// gatewayConfig configures the emulated WebSocket API.
type gatewayConfig struct {
	Stage, Region, APIID string
	// FrameLimit and MessageLimit are API Gateway's 32 KB and 128 KB.
	FrameLimit, MessageLimit int
	IdleTimeout, MaxLifetime time.Duration
	// PostFaults is the fraction of @connections POSTs answered with a
	// throttle (429) or a 500, to exercise the senders' retries.
	PostFaults float64
	// WriteTimeout bounds one post's write to the client socket.
	WriteTimeout time.Duration
	Log          *slog.Logger
}

// gateway plays API Gateway: WebSocket handshakes through the authorizer
// and $connect, frames to $default, $disconnect, and the @connections
// Management API.
type gateway struct {
	c      gatewayConfig
	authz  *function
	fn     *function
	log    *slog.Logger
	wg     sync.WaitGroup
	closed atomic.Bool

	mu     sync.Mutex
	conns  map[string]*wsConn
	routes map[string]int // invocations per route key
}

// wsConn is one client connection.
type wsConn struct {
	id          string
	ws          *websocket.Conn
	open        atomic.Bool // false during $connect: posts get 410
	connectedAt time.Time
	lastActive  atomic.Int64 // unix ns of the last client message
	sourceIP    string
	userAgent   string
	authorizer  map[string]any
	headers     map[string]string
	query       map[string]string
	sniff       *frameSniffer
	kick        chan closeReq // server-side close (DELETE, idle, lifetime)
	inflight    sync.WaitGroup
}

type closeReq struct {
	code   websocket.StatusCode
	reason string
}

func newGateway(c gatewayConfig, authz, fn *function) *gateway {
	return &gateway{c: c, authz: authz, fn: fn, log: c.Log, conns: map[string]*wsConn{}, routes: map[string]int{}}
}

// routeCounts returns how often each route was invoked.
func (g *gateway) routeCounts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.routes))
	for k, v := range g.routes {
		out[k] = v
	}
	return out
}

// newConnID makes an id shaped like API Gateway's ("L0SM9cOFvHcCIhw=").
func newConnID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if i := strings.Index(r.URL.Path, "/@connections/"); i >= 0 {
		g.management(w, r, r.URL.Path[i+len("/@connections/"):])
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		g.handshake(w, r)
		return
	}
	http.Error(w, "this is a WebSocket API: connect with ws://", http.StatusUpgradeRequired)
}

// requestContext is the part of an event API Gateway builds for a route.
func (g *gateway) requestContext(c *wsConn, route, eventType, host string) events.APIGatewayWebsocketProxyRequestContext {
	now := time.Now()
	return events.APIGatewayWebsocketProxyRequestContext{
		RouteKey: route, EventType: eventType, MessageDirection: "IN",
		ExtendedRequestID: newID()[:16], RequestID: newID()[:16],
		RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		RequestTimeEpoch: now.UnixMilli(),
		Stage:            g.c.Stage, DomainName: host, APIID: g.c.APIID,
		ConnectionID: c.id, ConnectedAt: c.connectedAt.UnixMilli(),
		Identity:   events.APIGatewayRequestIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		Authorizer: c.authorizer,
	}
}

func flatten(h http.Header) (map[string]string, map[string][]string) {
	one, multi := map[string]string{}, map[string][]string{}
	for k, vs := range h {
		one[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	return one, multi
}

func flattenQuery(q url.Values) (map[string]string, map[string][]string) {
	one, multi := map[string]string{}, map[string][]string{}
	for k, vs := range q {
		one[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	return one, multi
}

// handshake runs the authorizer and $connect, then upgrades.
func (g *gateway) handshake(w http.ResponseWriter, r *http.Request) {
	if g.closed.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	c := &wsConn{id: newConnID(), connectedAt: time.Now(), sourceIP: ip, userAgent: r.UserAgent(), kick: make(chan closeReq, 1)}
	hdr, mhdr := flatten(r.Header)
	q, mq := flattenQuery(r.URL.Query())
	c.headers, c.query = hdr, q
	ctx := r.Context()

	// The identity source is route.request.querystring.token: without it
	// API Gateway answers 401 and never calls the authorizer.
	if q["token"] == "" {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	arn := fmt.Sprintf("arn:aws:execute-api:%s:000000000000:%s/%s/$connect", g.c.Region, g.c.APIID, g.c.Stage)
	rc := g.requestContext(c, "$connect", "CONNECT", r.Host)
	authEvent := map[string]any{
		"type": "REQUEST", "methodArn": arn, "headers": hdr, "multiValueHeaders": mhdr,
		"queryStringParameters": q, "multiValueQueryStringParameters": mq, "stageVariables": map[string]string{},
		"requestContext": rc,
	}
	status, authCtx := g.authorize(ctx, authEvent, arn)
	if status != http.StatusOK {
		msg := map[int]string{401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}[status]
		http.Error(w, fmt.Sprintf(`{"message":%q}`, msg), status)
		return
	}
	c.authorizer = authCtx

	// $connect, with the connection registered but not open: posts to it
	// are answered 410 until the handshake completes.
	g.mu.Lock()
	g.conns[c.id] = c
	g.mu.Unlock()
	ev := events.APIGatewayWebsocketProxyRequest{Headers: hdr, MultiValueHeaders: mhdr, QueryStringParameters: q,
		MultiValueQueryStringParameters: mq, RequestContext: g.requestContext(c, "$connect", "CONNECT", r.Host)}
	resp, err := g.callRoute(ctx, ev)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		g.forget(c.id)
		st := http.StatusInternalServerError
		if err == nil {
			st = resp.StatusCode
		}
		g.log.Info("$connect refused the connection", "conn", c.id, "status", st, "err", err)
		http.Error(w, fmt.Sprintf(`{"message":%q}`, http.StatusText(st)), st)
		return
	}
	sw := &sniffWriter{ResponseWriter: w, limit: int64(g.c.FrameLimit)}
	ws, err := websocket.Accept(sw, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		g.forget(c.id)
		g.log.Warn("upgrade failed after $connect", "conn", c.id, "err", err)
		g.disconnect(c, r.Host, 1006, "upgrade failed")
		return
	}
	c.ws, c.sniff = ws, sw.sniffer
	ws.SetReadLimit(int64(g.c.MessageLimit))
	c.lastActive.Store(time.Now().UnixNano())
	c.open.Store(true)
	g.serve(c, r.Host)
}

// authorize invokes the authorizer and interprets its policy like API
// Gateway: an "Unauthorized" error is 401, a Deny (or no Allow for the
// method ARN) is 403, anything else failing is 500.
func (g *gateway) authorize(ctx context.Context, event map[string]any, arn string) (int, map[string]any) {
	payload, _ := json.Marshal(event)
	out, err := g.authz.invoke(ctx, payload)
	if err != nil {
		var fe *funcError
		if errors.As(err, &fe) && fe.Message == "Unauthorized" {
			return http.StatusUnauthorized, nil
		}
		g.log.Warn("authorizer failed", "err", err)
		return http.StatusInternalServerError, nil
	}
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		g.log.Warn("authorizer answered garbage", "err", err)
		return http.StatusInternalServerError, nil
	}
	allowed := false
	for _, st := range resp.PolicyDocument.Statement {
		if !matchesAny(st.Resource, arn) || !matchesAny(st.Action, "execute-api:Invoke") {
			continue
		}
		switch st.Effect {
		case "Deny":
			return http.StatusForbidden, nil
		case "Allow":
			allowed = true
		}
	}
	if !allowed {
		return http.StatusForbidden, nil
	}
	ctxMap := map[string]any{}
	for k, v := range resp.Context {
		ctxMap[k] = v
	}
	ctxMap["principalId"] = resp.PrincipalID
	return http.StatusOK, ctxMap
}

// matchesAny reports whether one of the IAM patterns (with * and ?)
// matches s.
func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ReplaceAll(p, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00")); ok || p == "*" {
			return true
		}
	}
	return false
}

// callRoute invokes the integration of a route.
func (g *gateway) callRoute(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	var resp events.APIGatewayProxyResponse
	g.mu.Lock()
	g.routes[ev.RequestContext.RouteKey]++
	g.mu.Unlock()
	payload, err := json.Marshal(ev)
	if err != nil {
		return resp, err
	}
	out, err := g.fn.invoke(ctx, payload)
	if err != nil {
		return resp, err
	}
	if len(out) > 0 && string(out) != "null" {
		if err := json.Unmarshal(out, &resp); err != nil {
			return resp, fmt.Errorf("integration response: %w", err)
		}
	}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	return resp, nil
}

// scheduled invokes the function with an EventBridge scheduled event
// every period until ctx ends (the template's sweep schedule); the route
// counts call it "scheduled". A tick is skipped while the last one runs.
func (g *gateway) scheduled(ctx context.Context, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			ev, _ := json.Marshal(map[string]any{
				"version": "0", "id": newID(), "detail-type": "Scheduled Event", "source": "aws.events",
				"account": "000000000000", "time": now.UTC().Format(time.RFC3339), "region": g.c.Region,
				"resources": []string{"arn:aws:events:" + g.c.Region + ":000000000000:rule/classgate-sweep"}, "detail": map[string]any{},
			})
			g.mu.Lock()
			g.routes["scheduled"]++
			g.mu.Unlock()
			if _, err := g.fn.invoke(ctx, ev); err != nil && ctx.Err() == nil {
				g.log.Warn("scheduled invocation failed", "err", err)
			}
		}
	}
}

// serve reads the client's messages until the connection ends, invoking
// $default for each, then $disconnect.
func (g *gateway) serve(c *wsConn, host string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type readResult struct {
		typ  websocket.MessageType
		data []byte
		err  error
	}
	reads := make(chan readResult)
	go func() {
		for {
			typ, data, err := c.ws.Read(ctx)
			select {
			case reads <- readResult{typ, data, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	idle := time.NewTimer(g.c.IdleTimeout)
	defer idle.Stop()
	lifetime := time.NewTimer(g.c.MaxLifetime)
	defer lifetime.Stop()
	code, reason := websocket.StatusCode(1000), ""
	var serverClose *closeReq
loop:
	for {
		select {
		case rr := <-reads:
			if rr.err != nil {
				code, reason = websocket.CloseStatus(rr.err), "client closed"
				if code == -1 {
					code, reason = 1006, rr.err.Error()
					if errors.Is(rr.err, websocket.ErrMessageTooBig) {
						code, reason = websocket.StatusMessageTooBig, "Message too big"
					}
				}
				break loop
			}
			if c.sniff.oversize() {
				serverClose = &closeReq{websocket.StatusMessageTooBig, "Message too big"}
				break loop
			}
			c.lastActive.Store(time.Now().UnixNano())
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(g.c.IdleTimeout)
			c.inflight.Add(1)
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				defer c.inflight.Done()
				g.message(c, host, rr.typ, rr.data)
			}()
		case <-idle.C:
			serverClose = &closeReq{websocket.StatusGoingAway, "Going away"}
			break loop
		case <-lifetime.C:
			serverClose = &closeReq{websocket.StatusGoingAway, "Going away"}
			break loop
		case k := <-c.kick:
			serverClose = &k
			break loop
		}
	}
	c.open.Store(false)
	g.forget(c.id)
	if serverClose != nil {
		code, reason = serverClose.code, serverClose.reason
		_ = c.ws.Close(serverClose.code, serverClose.reason)
	}
	c.ws.CloseNow()
	g.log.Debug("connection ended", "conn", c.id, "code", code, "reason", reason, "by_gateway", serverClose != nil)
	g.disconnect(c, host, int(code), reason)
}

// message invokes $default for one client message.
func (g *gateway) message(c *wsConn, host string, typ websocket.MessageType, data []byte) {
	ev := events.APIGatewayWebsocketProxyRequest{RequestContext: g.requestContext(c, "$default", "MESSAGE", host)}
	if typ == websocket.MessageBinary {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(data), true
	} else {
		ev.Body = string(data)
	}
	// Route selection on $request.body.type: the API has no route other
	// than $default, so every message goes there.
	ev.RequestContext.MessageID = newID()[:16]
	_, err := g.callRoute(context.Background(), ev)
	if err != nil {
		g.log.Warn("$default failed", "conn", c.id, "err", err)
		// What API Gateway tells the client when the integration fails.
		msg, _ := json.Marshal(map[string]string{"message": "Internal server error", "connectionId": c.id, "requestId": ev.RequestContext.RequestID})
		if c.open.Load() {
			_ = g.write(c, msg)
		}
	}
}

// disconnect invokes $disconnect (best effort, like API Gateway).
func (g *gateway) disconnect(c *wsConn, host string, code int, reason string) {
	ev := events.APIGatewayWebsocketProxyRequest{Headers: c.headers, RequestContext: g.requestContext(c, "$disconnect", "DISCONNECT", host)}
	ev.RequestContext.DisconnectStatusCode = int64(code)
	ev.RequestContext.DisconnectReason = &reason
	if _, err := g.callRoute(context.Background(), ev); err != nil {
		g.log.Warn("$disconnect failed", "conn", c.id, "err", err)
	}
}

func (g *gateway) forget(id string) {
	g.mu.Lock()
	delete(g.conns, id)
	g.mu.Unlock()
}

func (g *gateway) conn(id string) *wsConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[id]
}

// write sends one message, split in frames of at most FrameLimit bytes.
func (g *gateway) write(c *wsConn, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.c.WriteTimeout)
	defer cancel()
	wr, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), g.c.FrameLimit)
		if _, err := wr.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return wr.Close()
}

// management serves the @connections API: POST (post to the client), GET
// (connection info) and DELETE (close it).
func (g *gateway) management(w http.ResponseWriter, r *http.Request, rawID string) {
	id, err := url.PathUnescape(rawID)
	if err != nil {
		apiErr(w, http.StatusBadRequest, "BadRequestException", "invalid connection id")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		apiErr(w, http.StatusForbidden, "ForbiddenException", "Missing Authentication Token")
		return
	}
	if g.c.PostFaults > 0 && r.Method == http.MethodPost && mrand.Float64() < g.c.PostFaults {
		if mrand.IntN(2) == 0 {
			apiErr(w, http.StatusTooManyRequests, "LimitExceededException", "Rate exceeded (injected)")
		} else {
			apiErr(w, http.StatusInternalServerError, "InternalServerErrorException", "Internal server error (injected)")
		}
		return
	}
	c := g.conn(id)
	if c == nil || !c.open.Load() {
		g.log.Debug("@connections: gone", "conn", id, "method", r.Method, "known", c != nil)
		apiErr(w, http.StatusGone, "GoneException", "")
		return
	}
	switch r.Method {
	case http.MethodPost:
		data, err := io.ReadAll(io.LimitReader(r.Body, int64(g.c.MessageLimit)+1))
		if err != nil {
			apiErr(w, http.StatusBadRequest, "BadRequestException", err.Error())
			return
		}
		if len(data) > g.c.MessageLimit {
			apiErr(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", fmt.Sprintf("Message too long. Max message size is %d bytes", g.c.MessageLimit))
			return
		}
		if err := g.write(c, data); err != nil {
			if !c.open.Load() {
				apiErr(w, http.StatusGone, "GoneException", "")
				return
			}
			apiErr(w, http.StatusTooManyRequests, "LimitExceededException", "client side buffer is full")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"connectedAt":  c.connectedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
			"lastActiveAt": time.Unix(0, c.lastActive.Load()).UTC().Format("2006-01-02T15:04:05.000Z"),
			"identity":     map[string]string{"sourceIp": c.sourceIP, "userAgent": c.userAgent},
		})
	case http.MethodDelete:
		g.log.Debug("@connections: delete", "conn", id, "ua", r.UserAgent())
		select {
		case c.kick <- closeReq{websocket.StatusNormalClosure, ""}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		apiErr(w, http.StatusMethodNotAllowed, "BadRequestException", "method not allowed")
	}
}

// apiErr answers like the Management API: the error type in the
// x-amzn-ErrorType header (which the SDK reads) and a JSON message.
func apiErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("x-amzn-ErrorType", typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// shutdown closes every connection (1001) and waits for their $disconnect.
func (g *gateway) shutdown() {
	g.closed.Store(true)
	g.mu.Lock()
	for _, c := range g.conns {
		select {
		case c.kick <- closeReq{websocket.StatusGoingAway, "Going away"}:
		default:
		}
	}
	g.mu.Unlock()
}

// sniffWriter hands coder/websocket a connection whose reads are watched
// for client frames above the frame limit (coder/websocket only exposes
// whole messages).
type sniffWriter struct {
	http.ResponseWriter
	limit   int64
	sniffer *frameSniffer
}

func (s *sniffWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("cannot hijack")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	s.sniffer = &frameSniffer{Conn: conn, limit: s.limit}
	// The 101 reached the client before the hijack, so its first frames
	// may already sit in the server's buffer; coder/websocket replays them
	// from there, so they are scanned here.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		s.sniffer.scan(b)
	}
	return s.sniffer, brw, nil
}

// frameSniffer parses WebSocket frame headers in the client's byte stream
// and notes a frame whose payload exceeds limit.
type frameSniffer struct {
	net.Conn
	limit  int64
	hdr    [14]byte
	hn     int   // header bytes collected
	need   int   // header length, once known
	remain int64 // payload bytes of the current frame still to pass
	over   atomic.Bool
}

func (s *frameSniffer) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	s.scan(p[:n])
	return n, err
}

func (s *frameSniffer) oversize() bool { return s != nil && s.over.Load() }

func (s *frameSniffer) scan(b []byte) {
	for len(b) > 0 {
		if s.remain > 0 {
			k := int64(len(b))
			if k > s.remain {
				k = s.remain
			}
			s.remain -= k
			b = b[k:]
			continue
		}
		s.hdr[s.hn] = b[0]
		s.hn++
		b = b[1:]
		if s.hn == 2 {
			s.need = 2
			switch s.hdr[1] & 0x7f {
			case 126:
				s.need += 2
			case 127:
				s.need += 8
			}
			if s.hdr[1]&0x80 != 0 {
				s.need += 4
			}
		}
		if s.hn < 2 || s.hn < s.need {
			continue
		}
		var n uint64
		switch l := s.hdr[1] & 0x7f; l {
		case 126:
			n = uint64(s.hdr[2])<<8 | uint64(s.hdr[3])
		case 127:
			for i := 2; i < 10; i++ {
				n = n<<8 | uint64(s.hdr[i])
			}
		default:
			n = uint64(l)
		}
		if n > math.MaxInt64 {
			n = math.MaxInt64
		}
		if int64(n) > s.limit {
			s.over.Store(true)
		}
		s.remain = int64(n)
		s.hn, s.need = 0, 0
	}
}
