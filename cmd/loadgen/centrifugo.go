package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/classgate/classgate/core/auth"
)

// Centrifugo's bidirectional JSON protocol (client protocol v2), as
// loadgen speaks it for -peer centrifugo, to measure Centrifugo under the
// same load, schedule and client cost as classgate:
//
//	→ {"id":1,"connect":{"token":"<HS256 JWT, sub = user id>"}}
//	← {"id":1,"connect":{"client":"…","version":"…","ping":25,"pong":true}}
//	→ {"id":2,"subscribe":{"channel":"lg-17"}}
//	← {"id":2,"subscribe":{}}
//	→ {"id":3,"publish":{"channel":"lg-17","data":{"text":"lg:<sched>:<pub>:<n>"}}}
//	← {"id":3,"publish":{}}                                  the ack
//	← {"id":3,"error":{"code":103,"message":"permission denied"}}
//	← {"push":{"channel":"lg-17","pub":{"data":{…},"info":{…}}}} a delivery
//	← {}  a ping, answered with {} (a pong) or the server disconnects
//
// One WebSocket message may carry several of these, separated by "\n"
// (JSON escapes newlines inside strings, so splitting at '\n' is safe).
// A channel is a room; the publisher is a subscriber too and receives its
// own publications, so the expected deliveries are, as for classgate,
// acknowledged messages × members. Without history Centrifugo sends no
// offset: order is checked per publisher from the <n> of the marker.

// Command ids: the connect and the subscribe, then publish n has id
// cfIDBase + n (Centrifugo's ids are uint32).
const (
	cfConnectID   = 1
	cfSubscribeID = 2
	cfIDBase      = 2
)

// cfMsg is the part of one Centrifugo reply or push loadgen looks at.
// Byte slices alias the message and are valid until its buffer is reused.
type cfMsg struct {
	ID      uint64 // the command answered; 0 for a push or a ping
	Ping    bool   // {}: answer with {}
	Result  []byte // the reply's result key ("connect", "subscribe", "publish", …)
	Err     bool   // an error reply
	ErrCode uint64
	ErrMsg  []byte // raw string contents
	Push    bool
	Channel []byte // push: the channel
	Kind    []byte // push: the push's kind ("pub", "unsubscribe", "disconnect", "join", …)
	Data    []byte // push of a publication: the raw JSON of pub.data
}

// objIter walks the members of one JSON object without decoding it (the
// same scanning as parseFrame, see scan.go); after the walk, bad reports
// whether the object was malformed.
type objIter struct {
	b   []byte
	i   int
	bad bool
	end bool
}

func newObjIter(b []byte) objIter {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return objIter{bad: true, end: true}
	}
	return objIter{b: b, i: i + 1}
}

// next returns the next member; ok is false at the end or on an error.
func (it *objIter) next() (key, val []byte, ok bool) {
	if it.end {
		return nil, nil, false
	}
	b := it.b
	i := skipWS(b, it.i)
	if i < len(b) && b[i] == '}' {
		it.end = true
		return nil, nil, false
	}
	if i >= len(b) || b[i] != '"' {
		return it.fail()
	}
	kEnd := stringEnd(b, i)
	if kEnd < 0 {
		return it.fail()
	}
	key = b[i+1 : kEnd-1]
	i = skipWS(b, kEnd)
	if i >= len(b) || b[i] != ':' {
		return it.fail()
	}
	i = skipWS(b, i+1)
	vEnd := valueEnd(b, i)
	if vEnd < 0 {
		return it.fail()
	}
	val = b[i:vEnd]
	i = skipWS(b, vEnd)
	switch {
	case i < len(b) && b[i] == ',':
		it.i = i + 1
	case i < len(b) && b[i] == '}':
		it.i = i
	default:
		return it.fail()
	}
	return key, val, true
}

func (it *objIter) fail() ([]byte, []byte, bool) {
	it.bad, it.end = true, true
	return nil, nil, false
}

// parseCentrifugo parses one Centrifugo message (one line of a frame).
func parseCentrifugo(b []byte) (cfMsg, error) {
	var m cfMsg
	it := newObjIter(b)
	members := 0
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		members++
		switch string(k) {
		case "id":
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return m, errFrame
			}
			m.ID = n
		case "error":
			m.Err = true
			e := newObjIter(v)
			for {
				ek, ev, ok := e.next()
				if !ok {
					break
				}
				switch string(ek) {
				case "code":
					n, err := strconv.ParseUint(string(ev), 10, 64)
					if err != nil {
						return m, errFrame
					}
					m.ErrCode = n
				case "message":
					m.ErrMsg = unquote(ev)
				}
			}
			if e.bad {
				return m, errFrame
			}
		case "push":
			m.Push = true
			if err := m.parsePush(v); err != nil {
				return m, err
			}
		default:
			m.Result = k
		}
	}
	if it.bad {
		return m, errFrame
	}
	m.Ping = members == 0
	return m, nil
}

// parsePush reads a push's channel and kind, and the data of a publication.
func (m *cfMsg) parsePush(v []byte) error {
	p := newObjIter(v)
	for {
		k, pv, ok := p.next()
		if !ok {
			break
		}
		switch string(k) {
		case "channel":
			m.Channel = unquote(pv)
		case "pub":
			m.Kind = k
			d := newObjIter(pv)
			for {
				dk, dv, ok := d.next()
				if !ok {
					break
				}
				if string(dk) == "data" {
					m.Data = dv
				}
			}
			if d.bad {
				return errFrame
			}
		default:
			m.Kind = k
		}
	}
	if p.bad {
		return errFrame
	}
	return nil
}

// eachLine calls fn with every non-empty '\n'-separated line of b.
func eachLine(b []byte, fn func([]byte)) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			fn(line)
		}
	}
}

// cfPong answers a ping.
var cfPong = []byte("{}")

// centrifugoPeer is the peer of -peer centrifugo.
type centrifugoPeer struct{}

func (centrifugoPeer) name() string { return PeerCentrifugo }

func (centrifugoPeer) dialURL(_ *Run, cl *client) (string, error) { return cl.url, nil }

// cfToken mints client cl's connection token: sub and exp only.
func (r *Run) cfToken(cl *client) (string, error) {
	tok, err := auth.SignHS256([]byte(r.cfg.Secret), auth.Claims{
		Subject: fmt.Sprintf("lg-%d-%d", cl.idx/r.cfg.Users, cl.idx%r.cfg.Users),
		Expiry:  time.Now().Add(r.cfg.Warmup + r.cfg.Duration + time.Hour).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

func (centrifugoPeer) join(r *Run, cl *client, conn *wsConn, br *bufio.Reader, _ joinMode) error {
	tok, err := r.cfToken(cl)
	if err != nil {
		return err
	}
	cl.pubTr = make([]SeqTracker, r.cfg.Publishers)
	steps := []struct {
		id  uint64
		cmd string
	}{
		{cfConnectID, `{"id":1,"connect":{"token":` + strconv.Quote(tok) + `}}`},
		{cfSubscribeID, `{"id":2,"subscribe":{"channel":` + strconv.Quote(cl.room.id) + `}}`},
	}
	for _, s := range steps {
		if err := conn.writeText([]byte(s.cmd)); err != nil {
			return fmt.Errorf("send %s: %w", s.cmd[:min(len(s.cmd), 24)], err)
		}
		done := false
		var failed error
		for !done && failed == nil {
			b, err := readMessage(br, conn)
			if err != nil {
				return fmt.Errorf("wait for reply %d: %w", s.id, err)
			}
			eachLine(b, func(line []byte) {
				if done || failed != nil {
					// What follows the reply in the same frame (a push)
					// is handled as if the poller had read it.
					r.handleCentrifugo(cl, conn, line)
					return
				}
				m, err := parseCentrifugo(line)
				switch {
				case err != nil:
					failed = fmt.Errorf("reply %.200q: %w", line, err)
				case m.Ping:
					_ = conn.writeText(cfPong)
				case m.ID == s.id && m.Err:
					failed = fmt.Errorf("refused: %s", line)
				case m.ID == s.id:
					done = true
				}
			})
		}
		if failed != nil {
			return failed
		}
	}
	return nil
}

func (centrifugoPeer) appendMessage(r *Run, buf []byte, cl *client, _ Kind, n uint64, sched int64) []byte {
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendUint(buf, cfIDBase+n, 10)
	buf = append(buf, `,"publish":{"channel":`...)
	buf = strconv.AppendQuote(buf, cl.room.id)
	buf = append(buf, `,"data":{"text":"lg:`...)
	buf = strconv.AppendInt(buf, sched, 10)
	buf = append(buf, ':')
	buf = strconv.AppendInt(buf, int64(cl.idx), 10)
	buf = append(buf, ':')
	buf = strconv.AppendUint(buf, n, 10)
	if r.cfg.TextSize > 0 {
		buf = append(buf, ' ')
		buf = append(buf, strings.Repeat("x", r.cfg.TextSize)...)
	}
	return append(buf, `"}}}`...)
}

func (centrifugoPeer) receiver(r *Run, cl *client, conn *wsConn) func([]byte) {
	return func(b []byte) { eachLine(b, func(line []byte) { r.handleCentrifugo(cl, conn, line) }) }
}

// handleCentrifugo processes one Centrifugo message received by cl.
func (r *Run) handleCentrifugo(cl *client, conn *wsConn, b []byte) {
	m, err := parseCentrifugo(b)
	if err != nil {
		r.c.badFrames.Add(1)
		r.c.addError("bad_frame", fmt.Sprintf("%.200q", b))
		return
	}
	switch {
	case m.Ping:
		// A ping that crosses loadgen's close frame (the run's end) needs
		// no answer.
		if err := conn.writeText(cfPong); err != nil && !errors.Is(err, errClosed) {
			r.c.addError("pong_failed", err.Error())
		}
	case m.Push:
		r.cfPush(cl, m)
	case m.ID > cfIDBase:
		n := m.ID - cfIDBase
		cl.mu.Lock()
		p, found := cl.pending[n]
		delete(cl.pending, n)
		cl.mu.Unlock()
		if m.Err {
			r.c.addError("centrifugo_"+strconv.FormatUint(m.ErrCode, 10), fmt.Sprintf("id=%d: %.200s", m.ID, m.ErrMsg))
			return
		}
		if found {
			r.acked(cl, n, p, 0)
		}
	case m.Err:
		r.c.addError("centrifugo_"+strconv.FormatUint(m.ErrCode, 10), fmt.Sprintf("id=%d: %.200s", m.ID, m.ErrMsg))
	}
}

// cfPush handles a push: a publication of loadgen's is a delivery, timed
// and checked for order per publisher; an unsubscribe or a disconnect
// ends the member's share of the room and is an error.
func (r *Run) cfPush(cl *client, m cfMsg) {
	if string(m.Kind) != "pub" {
		r.c.otherRecv.Add(1)
		if k := string(m.Kind); k == "unsubscribe" || k == "disconnect" {
			r.c.addError("centrifugo_"+k, fmt.Sprintf("client %d, channel %s", cl.idx, m.Channel))
		}
		return
	}
	sched, pub, n, ok := parseMarker(m.Data)
	if !ok || string(m.Channel) != cl.room.id || pub/r.cfg.Users != cl.idx/r.cfg.Users || pub%r.cfg.Users >= len(cl.pubTr) {
		r.c.otherRecv.Add(1) // someone else's publication
		return
	}
	cl.pubTr[pub%r.cfg.Users].Observe(n)
	r.delivered(cl, sched, 0)
}
