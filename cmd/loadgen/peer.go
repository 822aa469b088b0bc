package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// The servers loadgen can drive (-peer).
const (
	PeerClassgate  = "classgate"  // PROTOCOL v1 (docs/PROTOCOL.md)
	PeerCentrifugo = "centrifugo" // Centrifugo's bidirectional JSON protocol (centrifugo.go)
)

// peer is the server protocol a run speaks: how a client dials and joins
// its room, how a publisher frames a message and how a received WebSocket
// message is handled. The schedule, the connections and their pollers,
// the counters, the latency histograms and the report are the run's, the
// same whatever the peer, so the load generator costs the same for both.
type peer interface {
	// name is the -peer value.
	name() string
	// dialURL is the URL client cl dials.
	dialURL(r *Run, cl *client) (string, error)
	// join sends the first messages on a freshly upgraded connection
	// (written through conn, read from br) and returns once the client
	// is in its room.
	join(r *Run, cl *client, conn *wsConn, br *bufio.Reader, mode joinMode) error
	// appendMessage appends the frame of message n of publisher cl,
	// scheduled at sched (unix nanos), to buf.
	appendMessage(r *Run, buf []byte, cl *client, kind Kind, n uint64, sched int64) []byte
	// receiver returns the handler of every text message conn receives
	// once it is read by a poller.
	receiver(r *Run, cl *client, conn *wsConn) func([]byte)
}

// newPeer returns the protocol named by -peer.
func newPeer(name string) (peer, error) {
	switch name {
	case PeerClassgate, "":
		return classgatePeer{}, nil
	case PeerCentrifugo:
		return centrifugoPeer{}, nil
	}
	return nil, fmt.Errorf("-peer %q: want %s or %s", name, PeerClassgate, PeerCentrifugo)
}

// classgatePeer speaks classgate's PROTOCOL v1: the token in the URL, a
// join frame, chat.send / whiteboard.* frames answered by ack or error.
type classgatePeer struct{}

func (classgatePeer) name() string { return PeerClassgate }

func (classgatePeer) dialURL(r *Run, cl *client) (string, error) {
	tok, err := r.token(cl)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(cl.url)
	if err != nil {
		return "", fmt.Errorf("parse url: %w", err)
	}
	q := u.Query()
	q.Set("token", tok)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (classgatePeer) join(r *Run, cl *client, conn *wsConn, br *bufio.Reader, mode joinMode) error {
	join := `{"type":"join","room":` + strconv.Quote(cl.room.id) + `,"id":"j"`
	if mode == joinResume {
		join += `,"since":` + strconv.FormatUint(cl.tr.Last(), 10)
		if cl.epoch != "" {
			join += `,"epoch":` + strconv.Quote(cl.epoch)
		}
	}
	if err := conn.writeText([]byte(join + "}")); err != nil {
		return fmt.Errorf("send join: %w", err)
	}
	for {
		b, err := readMessage(br, conn)
		if err != nil {
			return fmt.Errorf("wait for joined: %w", err)
		}
		f, err := parseFrame(b)
		if err != nil {
			return fmt.Errorf("answer to join %.200q: %w", b, err)
		}
		switch string(f.Type) {
		case "joined":
			now := nowUnix()
			switch mode {
			case joinFirst:
				cl.tr.Start(f.Seq)
				cl.vm.Joined = true
			case joinResume:
				cl.vm.Rejoins = append(cl.vm.Rejoins, now)
			case joinFresh:
				r.rejoined(cl, f.Seq, now)
			}
			if len(f.Epoch) > 0 {
				cl.epoch = string(f.Epoch)
			}
			return nil
		case "error":
			return fmt.Errorf("join refused: %s", b)
		}
		// Nothing else should come first; skip it.
	}
}

func (classgatePeer) appendMessage(r *Run, buf []byte, cl *client, kind Kind, n uint64, sched int64) []byte {
	return r.appendMessage(buf, cl, kind, n, sched)
}

func (classgatePeer) receiver(r *Run, cl *client, _ *wsConn) func([]byte) {
	return func(b []byte) { r.handle(cl, b) }
}

// errNoPoller: a connection cannot be read.
var errNoPoller = errors.New("no poller to read the connection")
