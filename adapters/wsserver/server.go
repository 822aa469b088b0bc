package wsserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/auth"
	"github.com/classgate/classgate/internal/uring"
	"github.com/classgate/classgate/internal/wsframe"
)

// Router is what the server drives; *core.Router implements it.
type Router interface {
	Connect(ctx context.Context, info core.ConnInfo) error
	Receive(ctx context.Context, id core.ConnID, frame []byte) error
	// ReceiveBinary handles a binary frame (rate limited, then refused).
	ReceiveBinary(ctx context.Context, id core.ConnID) error
	// Shed handles a text frame that queued longer than ShedAfter: a
	// plugin frame is answered rate_limited without being applied
	// (true); any other frame it leaves alone (false), to be received as
	// usual (core.Router.Shed). It is cheap and runs on the reader.
	Shed(ctx context.Context, id core.ConnID, frame []byte) (bool, error)
	Disconnect(ctx context.Context, id core.ConnID) error
}

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// Verifier checks handshake tokens (required).
	Verifier *auth.Verifier
	// AllowedOrigins are origin host patterns (path.Match) allowed besides
	// the request's own host; "*" allows any origin.
	AllowedOrigins []string
	// ReadLimit is the hard frame size limit; larger frames close the
	// connection with 1009 (default 1 MiB).
	ReadLimit int64
	// SendQueue is the per-connection outbound queue length; a client
	// whose queue overflows is closed with 4008 (default 512).
	SendQueue int
	// WriteTimeout bounds one frame write; a client that cannot take a
	// frame in this time is closed with 4008 (default 10s).
	WriteTimeout time.Duration
	// PingInterval sends WebSocket pings to detect dead peers (default
	// 30s; negative disables).
	PingInterval time.Duration
	// MaxConnections caps open connections; beyond it handshakes get 503
	// (0 means no cap; the gateway derives its default from the
	// file-descriptor limit, see FDConnectionLimit).
	MaxConnections int
	// MaxConnectionsPerUser caps the open connections of one user (token
	// sub); beyond it that user's handshakes get 503 (0 means no cap).
	MaxConnectionsPerUser int
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Observer receives the server's metrics events: SlowConsumer each
	// time a connection is closed with 4008 (default none; usually the
	// router's Observer, adapters/metrics). It must not block.
	Observer core.Observer
	// ShedAfter is the overload bound of a connection's inbound queue
	// (default 200ms; negative disables it). A connection's frames are
	// handled one at a time, so when the node takes longer over them than
	// the client takes to send them (a publisher faster than its room can
	// commit, or a node short of CPU) the rest wait in the socket. Once
	// the reader has found a frame already waiting after every frame for
	// ShedAfter (the queue never emptied in that time), the plugin frames
	// it reads are answered rate_limited, unapplied (Router.Shed), until
	// it has to wait for a frame again: a refusal costs a parse and a
	// reply, so the queue drains at once and the frames that follow are
	// served within about ShedAfter of their arrival, instead of the
	// delay growing without bound. A frame that came while the reader
	// waited counts as having waited as long as the runtime is currently
	// late waking readers (WakeLateness), up to that wait: on a node
	// short of CPU frames wait there, unread, and are shed as well.
	// docs/PERFORMANCE.md "Overload policy".
	ShedAfter time.Duration
	// NoIOUring makes room fan-out write to one socket at a time even
	// where io_uring is available (see batch.go).
	NoIOUring bool
}

// Server is an http.Handler for /ws and the core.Sender of its router.
// All methods are safe for concurrent use.
type Server struct {
	o      Options
	log    *slog.Logger
	router Router

	draining atomic.Bool
	// wgMu orders wg.Add against Shutdown: no connection is added to wg
	// once Shutdown has set draining and may be in wg.Wait (Add with a
	// zero counter concurrent with Wait is a WaitGroup misuse).
	wgMu      sync.Mutex
	count     atomic.Int64 // open connections and handshakes under way
	userMu    sync.Mutex
	users     map[string]int // open connections per user (with a cap)
	wg        sync.WaitGroup
	startOnce sync.Once
	probe     atomic.Pointer[wakeProbe] // nil: none (ShedAfter disabled, or it failed)
	jobs      chan job
	stop      chan struct{}
	stopOnce  sync.Once

	conns  registry                            // every open connection, by id
	rings  *ringPool                           // nil: no io_uring (see batch.go)
	ringDo func(*uring.Ring, []uring.Op) error // (*uring.Ring).Do; tests replace it
}

var _ core.Sender = (*Server)(nil)

// New returns a server; call Attach before serving.
func New(o Options) *Server {
	if o.ReadLimit == 0 {
		o.ReadLimit = DefaultReadLimit
	}
	if o.SendQueue == 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.ShedAfter == 0 {
		o.ShedAfter = DefaultShedAfter
	}
	if o.Observer == nil {
		o.Observer = core.NopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{o: o, log: o.Logger, stop: make(chan struct{}), jobs: make(chan job), ringDo: (*uring.Ring).Do}
	if !o.NoIOUring {
		rings, err := newRingPool(2*runtime.GOMAXPROCS(0), s.log)
		if err != nil {
			s.log.Info("io_uring unavailable: room fan-out writes one socket at a time", "err", err)
		}
		s.rings = rings
	}
	return s
}

// WakeLateness reports how late the runtime currently wakes a connection's
// reader once its socket is ready (0 before the first connection, with
// shedding disabled, or where the probe could not start): the delay that
// frames spend unread on a node short of CPU, which ShedAfter counts.
func (s *Server) WakeLateness() time.Duration { return s.probe.Load().lateness(time.Now()) }

// IOUring reports whether room fan-out submits its writes with io_uring:
// false where it is unavailable or turned off, and once repeated ring
// failures switched it off (see batch.go).
func (s *Server) IOUring() bool { return s.rings.enabled() }

// Attach sets the router that receives connections and frames.
func (s *Server) Attach(r Router) { s.router = r }

type conn struct {
	id      core.ConnID
	info    core.ConnInfo
	rd      *wsframe.Reader // used by the connection's reader only
	out     *outConn
	done    chan struct{} // closing: the close handshake began
	once    sync.Once
	jobDone chan struct{} // a worker finished this connection's frame
	pong    chan struct{} // a pong arrived (see pingLoop)
	pinging atomic.Bool   // a ping waits for its pong
	// readDone is closed when the reader stopped (the peer's close frame,
	// a protocol error or the socket gone).
	readDone chan struct{}
	// closed is closed when the close handshake is over and the socket
	// closed.
	closed chan struct{}

	// Outbound queue (see output.go). writing marks that some goroutine
	// owns the output: Send writing inline, or a writer goroutine. An idle
	// connection holds no buffer and no writer goroutine.
	qmu     sync.Mutex
	queue   [][]byte
	writing bool
}

// queued returns the number of frames waiting.
func (c *conn) queued() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue)
}

// busy reports whether frames are queued or being written.
func (c *conn) busy() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.writing
}

// isDone reports whether the connection is closing.
func (c *conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// closeTimeout bounds the close handshake: how long the close frame may
// take to leave and the peer's close frame to arrive before the socket is
// closed anyway.
const closeTimeout = 5 * time.Second

// closeWith starts the close handshake once with code (RFC 6455 §7):
// the close frame goes out behind what is waiting, and the socket is
// closed once it left and the peer's close frame arrived (or after
// closeTimeout). Later calls are no-ops; started reports whether this
// call started it.
func (s *Server) closeWith(c *conn, code int, reason string) (started bool) {
	c.once.Do(func() {
		started = true
		close(c.done)
		go s.closeHandshake(c, code, reason)
	})
	return started
}

// closeAbort is closeWith's code for closing the socket without a close
// frame (the peer is gone).
const closeAbort = -1

func (s *Server) closeHandshake(c *conn, code int, reason string) {
	defer close(c.closed)
	if code == closeAbort {
		_ = c.out.Close()
		return
	}
	c.out.mu.Lock()
	if err := c.out.w.Close(code, reason); err != nil && !errors.Is(err, wsframe.ErrClosed) {
		s.log.Error("close frame refused, closing with 1011 instead", "conn", c.id, "err", err)
		_ = c.out.w.Close(core.CloseInternal, "")
	}
	failed := c.out.failed
	c.out.mu.Unlock()
	if failed {
		// The output is stuck or the socket gone: no frame can follow.
		_ = c.out.Close()
		return
	}
	s.kick(c)
	deadline := time.Now().Add(closeTimeout)
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-c.out.sent:
	case <-c.out.dead:
		_ = c.out.Close()
		return
	case <-t.C:
		_ = c.out.Close()
		return
	}
	// Our close frame is out: the peer's close frame (or its end of
	// the socket) is what the reader waits for now.
	if cw, ok := c.out.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite() // the peer reads our FIN after the close frame
	}
	select {
	case <-c.readDone:
	case <-t.C:
	}
	// Whatever the peer still sends is discarded until it closes (within
	// closeTimeout): closing a socket with unread bytes would reset the
	// connection, and the peer could lose our close frame.
	_ = c.out.SetReadDeadline(deadline)
	_, _ = io.Copy(io.Discard, c.out.Conn)
	_ = c.out.Close()
}

// NewConnID returns a random connection id.
func NewConnID() core.ConnID {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return core.ConnID("C" + base64.RawURLEncoding.EncodeToString(b[:]))
}

// Handshake refusals. Their bodies say what a client may know; the log
// line says why in detail (the token's problem, the cap reached).
const (
	bodyUnauthorized = "unauthorized: missing, invalid or expired token"
	bodyDraining     = "server is draining, reconnect elsewhere"
	bodyCapacity     = "server is at capacity, try again later"
	bodyUserCap      = "too many open connections for this user"
)

// unavailable answers 503 with a Retry-After hint.
func unavailable(w http.ResponseWriter, body string) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, body, http.StatusServiceUnavailable)
}

// reserve counts a handshake against MaxConnections; false means the
// server is full. Every true is paired with one s.count.Add(-1).
func (s *Server) reserve() bool {
	n := s.count.Add(1)
	if s.o.MaxConnections > 0 && n > int64(s.o.MaxConnections) {
		s.count.Add(-1)
		return false
	}
	return true
}

// reserveUser counts a connection of user against MaxConnectionsPerUser;
// false means the user is at the cap. Every true is paired with one
// releaseUser.
func (s *Server) reserveUser(user string) bool {
	if s.o.MaxConnectionsPerUser <= 0 {
		return true
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	if s.users[user] >= s.o.MaxConnectionsPerUser {
		return false
	}
	if s.users == nil {
		s.users = map[string]int{}
	}
	s.users[user]++
	return true
}

func (s *Server) releaseUser(user string) {
	if s.o.MaxConnectionsPerUser <= 0 {
		return
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	if s.users[user]--; s.users[user] <= 0 {
		delete(s.users, user)
	}
}

// ServeHTTP handles the WebSocket handshake on /ws.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		unavailable(w, bodyDraining)
		return
	}
	if !s.reserve() {
		s.log.Warn("handshake refused: server.max_connections reached", "remote", r.RemoteAddr, "max", s.o.MaxConnections)
		unavailable(w, bodyCapacity)
		return
	}
	claims, err := s.o.Verifier.Verify(r.URL.Query().Get("token"))
	if err != nil {
		s.count.Add(-1)
		s.log.Info("handshake refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, bodyUnauthorized, http.StatusUnauthorized)
		return
	}
	user := claims.Subject
	if !s.reserveUser(user) {
		s.count.Add(-1)
		s.log.Warn("handshake refused: server.max_connections_per_user reached", "remote", r.RemoteAddr, "user", user, "max", s.o.MaxConnectionsPerUser)
		unavailable(w, bodyUserCap)
		return
	}
	release := func() {
		s.releaseUser(user)
		s.count.Add(-1)
	}
	up, err := wsframe.Accept(w, r, wsframe.AcceptOptions{OriginPatterns: s.o.AllowedOrigins, WriteTimeout: s.o.WriteTimeout})
	if err != nil {
		release()
		s.log.Info("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	var in io.Reader = up.Conn
	if len(up.Buffered) > 0 {
		in = io.MultiReader(bytes.NewReader(up.Buffered), up.Conn)
	}
	c := &conn{id: NewConnID(), rd: wsframe.NewReader(in, s.o.ReadLimit), out: newOutConn(up.Conn),
		done: make(chan struct{}), jobDone: make(chan struct{}, 1), pong: make(chan struct{}, 1),
		readDone: make(chan struct{}), closed: make(chan struct{})}
	c.info = claims.Conn(c.id)
	s.wgMu.Lock()
	late := s.draining.Load()
	if !late {
		s.wg.Add(1)
	}
	s.wgMu.Unlock()
	if late {
		// Shutdown began during the handshake: close it with 1012 like
		// the others (the client reconnects, preferably elsewhere).
		s.closeWith(c, core.CloseRestarting, "server restarting")
		close(c.readDone) // nobody reads: the handshake waits for the frame only
		<-c.closed
		release()
		return
	}
	if !s.connect(c) {
		close(c.readDone)
		<-c.closed
		release()
		s.wg.Done()
		return
	}
	// The connection lives on in its own goroutine, which only reads;
	// returning lets the HTTP server drop the request and its goroutine's
	// stack (connecting ran here, so the reader never ran that code).
	go func() {
		defer s.wg.Done()
		s.serve(c, release)
	}()
}

// FDConnectionLimit returns the default of server.max_connections: the
// process's file-descriptor limit (RLIMIT_NOFILE, soft; Go raises it to
// the hard limit at start) less headroom for everything else the process
// opens (see ConnectionLimitFor).
func FDConnectionLimit() (int, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("wsserver: read RLIMIT_NOFILE: %w", err)
	}
	return ConnectionLimitFor(rl.Cur), nil
}

// ConnectionLimitFor is the connection cap for a file-descriptor limit of
// nofile: nofile − (64 + nofile/10), at least 1; an unlimited or huge
// limit counts as 1<<24. The headroom covers listeners, the store's pool,
// plugin and cache files and the handshakes under way.
func ConnectionLimitFor(nofile uint64) int {
	nofile = min(nofile, 1<<24)
	headroom := 64 + nofile/10
	if nofile <= headroom {
		return 1
	}
	return int(nofile - headroom)
}

// connect registers c with the server and the router; false means the
// connection was refused and closed.
func (s *Server) connect(c *conn) bool {
	s.startOnce.Do(func() {
		if s.o.ShedAfter > 0 {
			p, err := startWakeProbe(wakeProbeInterval, s.stop)
			if err != nil {
				s.log.Warn("wake probe unavailable: shedding sees only queues it reads", "err", err)
			}
			s.probe.Store(p)
		}
		go s.pingLoop()
		for i := 0; i < workers(); i++ {
			go s.worker()
		}
	})
	s.conns.put(c)
	if s.draining.Load() {
		s.closeWith(c, core.CloseRestarting, "server restarting")
	}
	if err := s.router.Connect(context.Background(), c.info); err != nil {
		s.log.Error("connect failed", "conn", c.id, "err", err)
		s.forget(c)
		s.closeWith(c, core.CloseTryLater, "try again later")
		return false
	}
	return true
}

// serve runs the connection's reader, then ends the connection: it is
// forgotten and no longer counted (release) as soon as the reader stopped,
// and serve returns once the close handshake is over.
func (s *Server) serve(c *conn, release func()) {
	ctx := context.Background()
	s.log.Debug("connected", "conn", c.id, "user", c.info.User.ID)
	code, reason := s.read(c)
	close(c.readDone)
	s.forget(c)
	release()
	s.closeWith(c, code, reason)
	if err := s.router.Disconnect(ctx, c.id); err != nil {
		s.log.Warn("disconnect failed", "conn", c.id, "err", err)
	}
	<-c.closed // the close handshake is over and the socket closed
	s.log.Debug("disconnected", "conn", c.id)
}

// read is the connection's reader: it hands data messages to the router
// and answers control frames until the peer's close frame, a violation of
// the protocol or the socket's end. It returns the code to close with.
func (s *Server) read(c *conn) (code int, reason string) {
	var q backlog
	for {
		start := time.Now()
		op, data, err := c.rd.Next()
		end := time.Now()
		shed := q.observe(start, end, s.o.ShedAfter, s.probe.Load().lateness(end))
		if err != nil {
			var pe *wsframe.ProtocolError
			if errors.As(err, &pe) {
				s.log.Debug("protocol error", "conn", c.id, "err", err)
				return pe.Code, pe.Reason
			}
			if !c.isDone() {
				s.log.Debug("read ended", "conn", c.id, "err", err)
			}
			return closeAbort, "" // the socket is gone: no handshake
		}
		switch op {
		case wsframe.OpClose:
			// Echo the peer's code (§5.5.1); ours, if we closed first,
			// is already out and Close refuses a second.
			code, _, _ := wsframe.ParseClose(data) // Next checked it
			return code, ""
		case wsframe.OpPing:
			s.control(c, func(w *wsframe.Writer) error { return w.Pong(data) })
		case wsframe.OpPong:
			select {
			case c.pong <- struct{}{}:
			default:
			}
		default:
			if c.isDone() {
				continue // closing: data that crossed our close frame
			}
			// Backpressure for a client's own requests: while its outbound
			// queue is more than half full, stop reading its frames until
			// the writer catches up, so a burst of requests slows the
			// client down instead of overflowing its queue with replies
			// (4008 is for room traffic a client cannot keep up with).
			s.awaitRoom(c)
			if shed && op == wsframe.OpText && s.shed(c, data) {
				continue
			}
			// Binary frames go through the router too, so they count
			// against the rate limit and the abuse close like text frames.
			s.receive(c, data, op != wsframe.OpText)
		}
	}
}

// control frames a control frame (f) behind what is waiting and writes
// it like Send's fast path: at once without blocking if the socket takes
// it, otherwise by a writer goroutine.
func (s *Server) control(c *conn, f func(*wsframe.Writer) error) {
	c.out.mu.Lock()
	err := f(&c.out.w)
	done := true
	if err == nil {
		done, err = c.out.tryFlush()
	} else if errors.Is(err, wsframe.ErrClosed) {
		err = nil // closing: the close frame went first
	}
	c.out.mu.Unlock()
	if err != nil {
		s.writeFailed(c, err)
		return
	}
	if !done {
		s.kick(c)
	}
}

// Frames are processed by a pool of worker goroutines, not on the
// connection's reader: plugin calls run deep call stacks, and a reader
// that ran one would keep the grown stack for the connection's life. The
// reader waits for its frame to be done, so each connection's frames are
// still handled one at a time, in order. When every worker is busy (e.g.
// the store is slow) a frame gets a goroutine of its own, so one slow room
// never stalls the others.

type job struct {
	c      *conn
	data   []byte
	binary bool
}

func workers() int { return 4 * runtime.GOMAXPROCS(0) }

func (s *Server) receive(c *conn, data []byte, binary bool) {
	j := job{c: c, data: data, binary: binary}
	select {
	case s.jobs <- j:
	default:
		go s.process(j)
	}
	<-c.jobDone
}

func (s *Server) worker() {
	for {
		select {
		case <-s.stop:
			return
		case j := <-s.jobs:
			s.process(j)
		}
	}
}

func (s *Server) process(j job) {
	var err error
	switch {
	case j.binary:
		err = s.router.ReceiveBinary(context.Background(), j.c.id)
	default:
		err = s.router.Receive(context.Background(), j.c.id, j.data)
	}
	if err != nil {
		s.log.Warn("receive failed", "conn", j.c.id, "err", err)
	}
	j.c.jobDone <- struct{}{}
}

// shed offers a frame read past ShedAfter to Router.Shed, on the reader
// itself: a refusal is a parse and a reply, and handing it to a worker
// would cost the backlog two run-queue waits per frame on a node short of
// CPU — at which point shedding drains a backlog no faster than serving
// it. It reports whether the frame was handled; if not, it is received as
// usual.
func (s *Server) shed(c *conn, data []byte) bool {
	handled, err := s.router.Shed(context.Background(), c.id, data)
	if err != nil {
		s.log.Warn("shed failed", "conn", c.id, "err", err)
	}
	return handled
}

func (s *Server) awaitRoom(c *conn) {
	if c.queued() <= s.o.SendQueue/2 {
		return
	}
	deadline := time.Now().Add(s.o.WriteTimeout)
	for c.queued() > s.o.SendQueue/2 && time.Now().Before(deadline) {
		select {
		case <-c.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *Server) forget(c *conn) {
	s.conns.remove(c)
}

// writeInline is Send's fast path, run by the goroutine that delivers the
// frame once it owns the output: it frames the frame (behind any bytes
// left unsent) and writes it with one non-blocking write.
// Whatever the socket cannot take now, and frames queued meanwhile, are
// left to a writer goroutine.
func (s *Server) writeInline(c *conn, frame []byte) {
	c.out.mu.Lock()
	c.out.appendText(frame)
	_, err := c.out.tryFlush()
	c.out.mu.Unlock()
	s.wrote(c, err)
}

// wrote finishes an owner's non-blocking write: a failed write closes the
// client, and bytes or frames still waiting go to a writer goroutine.
func (s *Server) wrote(c *conn, err error) {
	if err != nil {
		s.writeFailed(c, err)
		return
	}
	if !s.yieldOutput(c) {
		go s.drain(c)
	}
}

// yieldOutput gives up ownership of the output if nothing is queued or
// unsent, and reports whether it did. Checking both under both locks is
// what lets outConn.Write and Send start a writer whenever one is needed.
func (s *Server) yieldOutput(c *conn) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if len(c.queue) > 0 || c.out.pending() {
		return false
	}
	c.writing = false
	return true
}

// kick makes sure a writer goroutine sends bytes left unsent (by a
// control frame's write, or the close frame).
func (s *Server) kick(c *conn) {
	c.qmu.Lock()
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		go s.drain(c)
	}
}

// drain is the writer goroutine of a connection whose socket could not
// take everything at once: it writes unsent bytes and queued frames,
// blocking, until there are none, then exits. A write that fails or takes
// longer than WriteTimeout closes the client as a slow consumer.
func (s *Server) drain(c *conn) {
	var batch [][]byte
	for {
		c.qmu.Lock()
		c.out.mu.Lock()
		if len(c.queue) == 0 && !c.out.pending() {
			c.writing = false
			c.queue = nil // idle connections keep no buffer
			c.out.mu.Unlock()
			c.qmu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.qmu.Unlock()
		for i, b := range batch {
			c.out.appendText(b)
			batch[i] = nil
		}
		err := c.out.flush(s.o.WriteTimeout)
		c.out.mu.Unlock()
		if err != nil {
			s.writeFailed(c, err)
			return // writing stays true: nothing more is written
		}
	}
}

// writeFailed closes a connection whose write failed: as a slow consumer
// (4008) unless it was closing or gone anyway.
func (s *Server) writeFailed(c *conn, err error) {
	select {
	case <-c.done: // closing anyway: not a slow consumer
	default:
		if !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			s.log.Warn("slow consumer closed: write failed", "conn", c.id, "err", err)
			s.slow()
		}
	}
	s.closeWith(c, core.CloseSlowConsumer, "slow consumer")
}

// pingLoop pings every connection each PingInterval, from one goroutine
// and a bounded set of short-lived ones, so idle connections carry no
// timer of their own. A peer that does not answer is closed.
func (s *Server) pingLoop() {
	if s.o.PingInterval <= 0 {
		return
	}
	t := time.NewTicker(s.o.PingInterval)
	defer t.Stop()
	sem := make(chan struct{}, 64)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		conns := s.all()
		for _, c := range conns {
			if !c.pinging.CompareAndSwap(false, true) {
				continue // its last ping is still waiting for the pong
			}
			sem <- struct{}{}
			go func(c *conn) {
				defer func() { <-sem; c.pinging.Store(false) }()
				select { // a pong from before this ping proves nothing
				case <-c.pong:
				default:
				}
				s.control(c, func(w *wsframe.Writer) error { return w.Ping(nil) })
				t := time.NewTimer(s.o.WriteTimeout)
				defer t.Stop()
				select {
				case <-c.pong:
				case <-c.done:
				case <-t.C:
					s.log.Info("closing connection: no pong", "conn", c.id, "timeout", s.o.WriteTimeout)
					s.closeWith(c, core.ClosePolicy, "no pong")
				}
			}(c)
		}
	}
}

func (s *Server) slow() { s.o.Observer.SlowConsumer() }

// Send delivers a frame to a connection without blocking: when no write is
// in progress it is written at once with a non-blocking write, otherwise
// it is queued behind the frames waiting. A connection whose queue is full
// is closed with 4008 (slow consumer).
func (s *Server) Send(_ context.Context, id core.ConnID, frame []byte) error {
	c := s.get(id)
	if c == nil {
		return fmt.Errorf("wsserver: send to %s: %w", id, core.ErrNotFound)
	}
	select {
	case <-c.done:
		return fmt.Errorf("wsserver: send to %s: closing: %w", id, core.ErrNotFound)
	default:
	}
	own, err := s.claim(c, frame)
	if own {
		s.writeInline(c, frame)
	}
	return err
}

// claim takes the output of c for a caller that will write frame, and
// reports whether it did. If a write is already in progress, frame is
// queued behind it instead (or c is closed as a slow consumer if its
// queue is full).
func (s *Server) claim(c *conn, frame []byte) (bool, error) {
	c.qmu.Lock()
	if len(c.queue) >= s.o.SendQueue {
		c.qmu.Unlock()
		s.log.Warn("slow consumer closed", "conn", c.id, "queue", s.o.SendQueue)
		s.slow()
		s.closeWith(c, core.CloseSlowConsumer, "slow consumer: could not keep up")
		return false, fmt.Errorf("wsserver: send to %s: queue full", c.id)
	}
	if c.writing {
		c.queue = append(c.queue, frame)
		c.qmu.Unlock()
		return false, nil
	}
	c.writing = true
	c.qmu.Unlock()
	return true, nil
}

// Close closes a connection with a close code and reason.
func (s *Server) Close(_ context.Context, id core.ConnID, code int, reason string) error {
	c := s.get(id)
	if c == nil {
		return fmt.Errorf("wsserver: close %s: %w", id, core.ErrNotFound)
	}
	// Give already queued frames (e.g. the last error) a moment to leave.
	go func() {
		deadline := time.Now().Add(200 * time.Millisecond)
		for c.busy() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		s.closeWith(c, code, reason)
	}()
	return nil
}

// CloseWhere closes every connection whose info matches with code and
// returns how many it closed (used to kick a user). Connections already
// closing (their close handshake under way) are not counted.
func (s *Server) CloseWhere(match func(core.ConnInfo) bool, code int, reason string) int {
	var hit []*conn
	for _, c := range s.all() {
		if match(c.info) {
			hit = append(hit, c)
		}
	}
	n := 0
	for _, c := range hit {
		if s.closeWith(c, code, reason) {
			n++
		}
	}
	return n
}

func (s *Server) get(id core.ConnID) *conn { return s.conns.get(id) }

func (s *Server) all() []*conn { return s.conns.all() }

// Count returns the number of open connections.
func (s *Server) Count() int { return int(s.count.Load()) }

// Ready reports whether the server accepts new connections.
func (s *Server) Ready() bool { return !s.draining.Load() }

// Shutdown drains the server: new handshakes get 503, every open
// connection is closed with 1012, and Shutdown waits for them to finish
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.wgMu.Lock()
	s.draining.Store(true)
	s.wgMu.Unlock()
	s.stopOnce.Do(func() { close(s.stop) })
	s.CloseWhere(func(core.ConnInfo) bool { return true }, core.CloseRestarting, "server restarting")
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.rings.close()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wsserver: shutdown: %d connections still open: %w", s.Count(), ctx.Err())
	}
}
