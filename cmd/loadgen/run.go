package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/classgate/classgate/core/auth"
)

// room is one room's shared counters. members is fixed once everyone has
// joined; acked and received count the measured window only.
type room struct {
	id       string
	members  atomic.Int64  // connections that joined
	acked    atomic.Uint64 // durable messages acknowledged, scheduled in the window
	received atomic.Uint64 // deliveries of those messages, over all members

	vmu  sync.Mutex
	msgs []VMsg // -verify: the room's durable messages by key (see msgKey)
}

// setMsg updates message key of the room's ledger under its lock.
func (rm *room) setMsg(key int, f func(*VMsg)) {
	rm.vmu.Lock()
	defer rm.vmu.Unlock()
	if key >= len(rm.msgs) {
		rm.msgs = append(rm.msgs, make([]VMsg, key+1-len(rm.msgs))...)
	}
	f(&rm.msgs[key])
}

// client is one member of a room: one connection at a time (-reconnect
// replaces it after an unexpected close). Its read loop owns tr and the
// fields below it (a reconnect runs only between two connections, so it
// owns them then); conn, done and pending are shared with the publisher
// goroutine under mu.
type client struct {
	idx    int
	room   *room
	pub    bool
	url    string
	urlIdx int // index of url in Config.URLs

	mu      sync.Mutex
	conn    *wsConn
	done    chan struct{}         // closed when conn has ended
	pending map[uint64]pendingMsg // id → what was sent, until its ack or error

	closing atomic.Bool // set before loadgen closes the connection itself

	tr        SeqTracker
	pubTr     []SeqTracker // -peer centrifugo: per publisher of the room, the marker's n (no seq)
	epoch     string       // the room's epoch from the last joined or resync, if any
	rejoining bool         // a re-join after a resync awaits its joined
	vm        VMember      // -verify: what this member received
	gen       []uint16     // -verify: per message key, the member's resync count at its first copy
}

// current returns the client's connection and its end channel.
func (cl *client) current() (*wsConn, chan struct{}) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.conn, cl.done
}

type pendingMsg struct {
	sched int64 // scheduled send time, unix nanos
	kind  Kind
	tries int // retries sent so far (-retry)
}

// counters are the run-wide totals, updated atomically from many
// goroutines.
type counters struct {
	connected, connectFailed         atomic.Int64
	sentTotal, sentWindow            atomic.Uint64
	ackedTotal, ackedWindow          atomic.Uint64
	ackedDurableWindow               atomic.Uint64
	recvTotal, recvWindow            atomic.Uint64 // deliveries of loadgen's durable messages
	ephemeralRecv                    atomic.Uint64
	otherRecv                        atomic.Uint64 // presence, history, … (not loadgen's)
	duplicates, gaps, reorders       atomic.Uint64
	resyncs, disconnects, badFrames  atomic.Uint64
	reconnects, cutPending, retries  atomic.Uint64
	rejoinRetries                    atomic.Uint64
	sendFailures, lateSends          atomic.Uint64
	errMu                            sync.Mutex
	errors                           map[string]uint64 // error frames by code, plus local failures
	closeCodes                       map[string]uint64 // unexpected closes by status
	firstErrs                        []string          // a few error messages, for the report
	measureStartUnix, measureEndUnix atomic.Int64      // the measured window, scheduled unix nanos
	publishing                       atomic.Bool
}

func (c *counters) addError(code, msg string) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.errors == nil {
		c.errors = map[string]uint64{}
	}
	c.errors[code]++
	if c.errors[code] == 1 && len(c.firstErrs) < 10 && msg != "" {
		c.firstErrs = append(c.firstErrs, code+": "+msg)
	}
}

func (c *counters) addClose(code string) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.closeCodes == nil {
		c.closeCodes = map[string]uint64{}
	}
	c.closeCodes[code]++
}

func (c *counters) inWindow(sched int64) bool {
	return sched >= c.measureStartUnix.Load() && sched < c.measureEndUnix.Load()
}

// Run is one load test.
type Run struct {
	cfg     Config
	log     io.Writer // progress lines
	rooms   []*room
	clients []*client
	c       counters

	lat        Histogram // end-to-end latency, measured window
	latAll     Histogram // end-to-end latency, everything (progress line)
	ackLat     Histogram // publish → ack, measured window
	sendLag    Histogram // slot due → write started, measured window
	inLat      Histogram // scheduled send → the gateway's ts stamp, measured window
	outLat     Histogram // the gateway's ts stamp → received, measured window
	connectLat Histogram // dial → joined, per connection
	dialLat    Histogram // dial → upgraded

	pollers []*poller // read every connection (see wsconn.go)
	proto   peer      // the server's protocol (-peer)

	// idBase is added to a publisher's message number to make its id:
	// ids differ from run to run, so the gateway's dedupe (same user,
	// room and id within its window) never mistakes a message of this run
	// for one of an earlier run against the same gateway.
	idBase uint64

	// Control, with PhasesStdin, is read for "phase NAME" and "stop"
	// lines (main passes os.Stdin).
	Control io.Reader
	stopPub chan struct{} // closed by "stop" or the end of Control
	phMu    sync.Mutex
	phases  []PhaseMark

	// Background work that outlives a connection: reconnects.
	bgCtx        context.Context
	bgCancel     context.CancelFunc
	bgMu         sync.Mutex
	bgStopped    bool
	bg           sync.WaitGroup
	reconnecting atomic.Int64 // clients between two connections
	rejoining    atomic.Int64 // clients waiting for a re-join after a resync

	lateMu     sync.Mutex
	lateSample []string // a few out-of-order arrivals, for the diagnosis
}

// NewRun prepares a run; nothing connects until Execute.
func NewRun(cfg Config, log io.Writer) *Run {
	r := &Run{cfg: cfg, log: log, stopPub: make(chan struct{}), idBase: uint64(time.Now().UnixMilli()) * 1_000_000}
	r.bgCtx, r.bgCancel = context.WithCancel(context.Background())
	r.proto, _ = newPeer(cfg.Peer) // Validate rejected an unknown name
	if r.proto == nil {
		r.proto = classgatePeer{}
	}
	r.rooms = make([]*room, cfg.Rooms)
	for i := range r.rooms {
		r.rooms[i] = &room{id: cfg.RoomID(i)}
	}
	r.clients = make([]*client, cfg.Conns())
	for i := range r.clients {
		rm := r.rooms[i/cfg.Users]
		r.clients[i] = &client{
			idx:     i,
			room:    rm,
			pub:     !cfg.Idle && i%cfg.Users < cfg.Publishers,
			url:     cfg.URLs[i%len(cfg.URLs)],
			urlIdx:  i % len(cfg.URLs),
			pending: make(map[uint64]pendingMsg),
		}
	}
	return r
}

// token mints the access token of client i.
func (r *Run) token(cl *client) (string, error) {
	role := "student"
	if cl.pub {
		role = "teacher"
	}
	u := cl.idx % r.cfg.Users
	tok, err := auth.SignHS256([]byte(r.cfg.Secret), auth.Claims{
		Subject: fmt.Sprintf("lg-%d-%d", cl.idx/r.cfg.Users, u),
		Name:    fmt.Sprintf("Load %d/%d", cl.idx/r.cfg.Users, u),
		Role:    role,
		Rooms:   []string{cl.room.id},
		Expiry:  time.Now().Add(r.cfg.Warmup + r.cfg.Duration + time.Hour).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// joinMode says how a connection joins the client's room.
type joinMode int

const (
	joinFirst  joinMode = iota // the run's first join: the tracker starts at joined's seq
	joinResume                 // a reconnect: since = the last seq seen (and the epoch); the tracker goes on
	joinFresh                  // a reconnect while a resync's re-join was pending: start over at joined's seq
)

// connect dials client cl, joins its room (the peer's way) and starts
// its read loop.
func (r *Run) connect(ctx context.Context, cl *client, mode joinMode) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.HandshakeTTL)
	defer cancel()
	u, err := r.proto.dialURL(r, cl)
	if err != nil {
		return err
	}
	if len(r.pollers) == 0 {
		return errNoPoller
	}
	start := time.Now()
	nc, br, err := handshake(ctx, u)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cl.url, err)
	}
	r.dialLat.Record(time.Since(start))
	conn := &wsConn{nc: nc, fd: -1}
	if err := r.proto.join(r, cl, conn, br, mode); err != nil {
		nc.Close()
		return err
	}
	r.connectLat.Record(time.Since(start))
	// From here on the connection is read by a poller. Bytes the reader
	// already holds (frames that followed joined) are handled first.
	rest := make([]byte, br.Buffered())
	_, _ = io.ReadFull(br, rest)
	conn.mu.Lock()
	fd, err := detach(nc)
	conn.nc, conn.fd = nil, fd
	conn.mu.Unlock()
	if err != nil {
		nc.Close()
		return fmt.Errorf("detach socket: %w", err)
	}
	done := make(chan struct{})
	cl.mu.Lock()
	cl.conn, cl.done = conn, done
	cl.mu.Unlock()
	conn.onText = r.proto.receiver(r, cl, conn)
	conn.onEnd = func(e *closeError) { r.ended(cl, done, e) }
	if mode == joinFirst {
		cl.room.members.Add(1)
		r.c.connected.Add(1)
	}
	if rest, ok := conn.consume(rest); ok {
		conn.rbuf = append(conn.rbuf, rest...)
	} else {
		return nil // ended while handling the buffered frames
	}
	if err := r.pollers[cl.idx%len(r.pollers)].attach(conn); err != nil {
		conn.end(&closeError{err: err})
	}
	return nil
}

// ended accounts for the end of cl's connection (whose end channel is
// done) and, with -reconnect, starts reconnecting when loadgen did not
// close it itself.
func (r *Run) ended(cl *client, done chan struct{}, e *closeError) {
	defer close(done)
	if cl.closing.Load() {
		return
	}
	r.c.disconnects.Add(1)
	r.c.addClose(statusText(e.code))
	if !r.cfg.Reconnect {
		r.c.addError("disconnected", e.Error())
		return
	}
	// What was in flight on this connection will never be answered.
	cl.mu.Lock()
	r.c.cutPending.Add(uint64(len(cl.pending)))
	clear(cl.pending)
	cl.mu.Unlock()
	r.bgMu.Lock()
	defer r.bgMu.Unlock()
	if r.bgStopped {
		return
	}
	r.reconnecting.Add(1)
	r.bg.Add(1)
	go r.reconnect(cl)
}

// Frame types that answer the client or describe the room at join; their
// top-level seq (if any) is not a room event's.
var notEvents = map[string]bool{
	"joined": true, "ack": true, "error": true, "pong": true, "resync": true,
	"presence.state": true, "chat.history": true, "whiteboard.snapshot": true,
}

// handle processes one frame received by cl.
func (r *Run) handle(cl *client, b []byte) {
	f, err := parseFrame(b)
	if err != nil {
		r.c.badFrames.Add(1)
		r.c.addError("bad_frame", fmt.Sprintf("%.200q", b))
		return
	}
	switch string(f.Type) {
	case "ack", "error":
		r.answer(cl, f)
		return
	case "resync":
		r.c.resyncs.Add(1)
		r.resync(cl, f)
		return
	case "joined":
		if cl.rejoining && string(f.ID) == rejoinID {
			r.rejoined(cl, f.Seq, nowUnix())
			if len(f.Epoch) > 0 {
				cl.epoch = string(f.Epoch)
			}
		}
		return
	}
	// While a re-join is pending, seqs belong to the room's new start
	// (possibly a new epoch); the tracker restarts at the joined.
	late := false // at or below a seq this member already had: out of order
	if f.Seq > 0 && !notEvents[string(f.Type)] && !cl.rejoining {
		late = f.Seq <= cl.tr.Last()
		if late && r.cfg.Verify {
			r.noteLate(fmt.Sprintf("client %d (room %s): %s seq %d after seq %d, epoch %q", cl.idx, cl.room.id, f.Type, f.Seq, cl.tr.Last(), cl.epoch))
		}
		cl.tr.Observe(f.Seq)
	}
	var kind Kind = -1
	switch string(f.Type) {
	case recvType[KindChat]:
		kind = KindChat
	case recvType[KindWhiteboard]:
		kind = KindWhiteboard
	case recvType[KindCursor]:
		kind = KindCursor
	}
	if kind < 0 {
		r.c.otherRecv.Add(1)
		return
	}
	sched, ok := findMarker(f.Data)
	if kind == KindCursor {
		// The whiteboard plugin forwards only x and y, so a cursor
		// usually arrives without loadgen's marker: count it, and time
		// it only when the marker survived.
		r.c.ephemeralRecv.Add(1)
		if ok {
			d := time.Duration(nowUnix() - sched)
			r.latAll.Record(d)
			if r.c.inWindow(sched) {
				r.lat.Record(d)
			}
		}
		return
	}
	if !ok {
		r.c.otherRecv.Add(1) // someone else's chat or drawing
		return
	}
	if r.cfg.Verify {
		r.record(cl, f.Data, late)
	}
	r.delivered(cl, sched, f.TS)
}

// delivered counts one delivery to cl of a durable message of loadgen's
// scheduled at sched (unix nanos); ts is the server's stamp in unix
// milliseconds, 0 when it sends none.
func (r *Run) delivered(cl *client, sched, ts int64) {
	now := nowUnix()
	d := time.Duration(now - sched)
	r.latAll.Record(d)
	in := r.c.inWindow(sched)
	if in {
		r.lat.Record(d)
		if ts > 0 {
			r.recordSplit(sched, ts*int64(time.Millisecond), now)
		}
	}
	r.c.recvTotal.Add(1)
	if in {
		r.c.recvWindow.Add(1)
		cl.room.received.Add(1)
	}
}

// recordSplit divides one delivery's latency at the gateway's stamp:
// before it is loadgen's send, the network and the gateway's work up to
// sequencing; after it, the fan-out to this member. The stamp has
// millisecond resolution, so each half is accurate to about 1 ms (it is
// truncated, hence the clamp at zero).
func (r *Run) recordSplit(sched, stamp, now int64) {
	r.inLat.Record(time.Duration(max(0, stamp-sched)))
	r.outLat.Record(time.Duration(max(0, now-stamp)))
}

// answer matches an ack or error to the message it answers.
func (r *Run) answer(cl *client, f inFrame) {
	id, err := strconv.ParseUint(string(f.ID), 10, 64)
	var p pendingMsg
	found := false
	if err == nil && id > r.idBase {
		id -= r.idBase
		cl.mu.Lock()
		p, found = cl.pending[id]
		delete(cl.pending, id)
		cl.mu.Unlock()
	}
	if string(f.Type) == "error" {
		code := string(f.Code)
		if code == "" {
			code = "unknown"
		}
		msg := string(f.Msg)
		if u, err := strconv.Unquote(`"` + msg + `"`); err == nil {
			msg = u
		}
		r.c.addError(code, fmt.Sprintf("id=%s: %.200s", f.ID, msg))
		if found && code == retryCode && p.tries < r.cfg.Retries {
			r.retry(cl, id, p)
		}
		if string(f.ID) == rejoinID && cl.rejoining {
			r.retryRejoin(cl) // still not joined: the gateway dropped the membership
		}
		return
	}
	if !found {
		return // an ack of something else (leave, …)
	}
	r.acked(cl, id, p, f.Seq)
}

// acked counts the acknowledgement of message n of publisher cl (p is
// what was sent; seq the room seq the ack carries, 0 if none).
func (r *Run) acked(cl *client, n uint64, p pendingMsg, seq uint64) {
	r.c.ackedTotal.Add(1)
	if r.cfg.Verify && p.kind.Durable() {
		at := nowUnix()
		cl.room.setMsg(r.msgKey(cl.idx, n), func(m *VMsg) { m.AckAt, m.Seq = at, seq })
	}
	if r.c.inWindow(p.sched) {
		r.c.ackedWindow.Add(1)
		r.ackLat.Record(time.Duration(nowUnix() - p.sched))
		if p.kind.Durable() {
			r.c.ackedDurableWindow.Add(1)
			cl.room.acked.Add(1)
		}
	}
}

// clock: one monotonic base for every timestamp loadgen writes and
// compares, expressed as unix nanoseconds.
var (
	clockBase     = time.Now()
	clockBaseUnix = clockBase.UnixNano()
)

func nowUnix() int64 { return clockBaseUnix + int64(time.Since(clockBase)) }

func unixOf(t time.Time) int64 { return clockBaseUnix + int64(t.Sub(clockBase)) }
