package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// Cluster-wide operations. An operator's action that must reach the node
// holding a connection (kick a user, drain a node) is published on the
// control channel, P "ctl", which every node subscribes to with
// HandleControl. Each other node carries it out on its own connections
// and answers on the asker's reply channel, P "ctl:r:" node, with how
// many connections it closed. The asker waits for as many answers as
// PUBLISH said nodes received the request, bounded by OpTimeout.
//
// Control traffic uses plain pub/sub in every mode (in Cluster mode it is
// broadcast across the cluster bus, which is right for a message every
// node must see, and rare). A node that is down or partitioned gets
// nothing and is counted as unanswered.

// Control operations.
const (
	// ControlKick closes the connections of Control.User (those that
	// joined Control.Room when set) with 4003.
	ControlKick = "kick"
	// ControlDrain drains the node Control.Node ("*": every node).
	ControlDrain = "drain"
)

// Control is one cluster-wide request.
type Control struct {
	Op   string `json:"op"`
	User string `json:"user,omitempty"`
	Room string `json:"room,omitempty"`
	// Node addresses one node by id; "" or "*" addresses every node.
	// Nodes not addressed answer Skipped without acting.
	Node string `json:"node,omitempty"`

	ID   string `json:"id"`   // set by (*Store).Control
	From string `json:"from"` // the asking node, set by (*Store).Control
}

// ControlReply is one node's answer to a Control.
type ControlReply struct {
	ID     string `json:"id"`
	Node   string `json:"node"`
	Closed int    `json:"closed"`
	// Skipped: the request addressed another node.
	Skipped bool `json:"skipped,omitempty"`
	// Err is the node's failure, "" when it carried the request out.
	Err string `json:"err,omitempty"`
}

// ControlResult is what the other nodes answered to a Control.
type ControlResult struct {
	Replies []ControlReply
	// Unanswered is how many nodes received the request but did not
	// answer within OpTimeout, as far as Redis can tell (-1 in Cluster
	// mode, where PUBLISH counts only one shard's subscribers).
	Unanswered int
}

// ControlHandler carries out a Control on this node's connections and
// returns how many it closed.
type ControlHandler func(ctx context.Context, c Control) (int, error)

// controlMax bounds the requests from other nodes carried out at once;
// more are answered with an error.
const controlMax = 8

type control struct {
	s       *Store
	ps      *goredis.PubSub
	h       ControlHandler
	sem     chan struct{}
	mu      sync.Mutex
	pending map[string]chan ControlReply
	wg      sync.WaitGroup
}

func (k keys) control() string              { return k.prefix + "ctl" }
func (k keys) controlReply(n string) string { return k.prefix + "ctl:r:" + n }

// HandleControl subscribes this node to the control channel: requests
// from other nodes are handed to h (a few at a time, each bounded by
// OpTimeout) and answered. It returns once Redis confirmed the
// subscriptions; call it once, before the node serves.
func (s *Store) HandleControl(ctx context.Context, h ControlHandler) error {
	if s.o.Node == "" {
		return errors.New("redis: control: Options.Node is required")
	}
	c := &control{s: s, h: h, sem: make(chan struct{}, controlMax), pending: map[string]chan ControlReply{}}
	chans := []string{s.k.control(), s.k.controlReply(s.o.Node)}
	if s.cluster != nil {
		c.ps = s.cluster.Subscribe(ctx, chans...)
	} else {
		c.ps = s.client.Subscribe(ctx, chans...)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	for range chans {
		if _, err := c.ps.Receive(ctx); err != nil {
			_ = c.ps.Close()
			return s.fail("subscribe control channel", err)
		}
	}
	s.ctlMu.Lock()
	s.ctl = c
	s.ctlMu.Unlock()
	msgs := c.ps.Channel(goredis.WithChannelSize(64))
	c.wg.Add(1)
	go c.read(msgs)
	return nil
}

func (c *control) read(msgs <-chan *goredis.Message) {
	defer c.wg.Done()
	for m := range msgs {
		if m.Channel == c.s.k.control() {
			var req Control
			if json.Unmarshal([]byte(m.Payload), &req) != nil || req.From == c.s.o.Node || req.ID == "" {
				continue
			}
			select {
			case c.sem <- struct{}{}:
				c.wg.Add(1)
				go c.serve(req)
			default:
				c.reply(req, 0, errors.New("too many control requests at once"))
			}
			continue
		}
		var r ControlReply
		if json.Unmarshal([]byte(m.Payload), &r) != nil {
			continue
		}
		c.mu.Lock()
		ch := c.pending[r.ID]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- r:
			default: // more answers than nodes: the asker stopped counting
			}
		}
	}
}

func (c *control) serve(req Control) {
	defer c.wg.Done()
	defer func() { <-c.sem }()
	if req.Node != "" && req.Node != "*" && req.Node != c.s.o.Node {
		c.reply(req, 0, errSkipped)
		return
	}
	ctx, cancel := c.s.opCtx(context.Background())
	defer cancel()
	n, err := c.h(ctx, req)
	c.reply(req, n, err)
}

// errSkipped marks the answer of a node a request did not address.
var errSkipped = errors.New("not addressed")

func (c *control) reply(req Control, n int, err error) {
	r := ControlReply{ID: req.ID, Node: c.s.o.Node, Closed: n}
	if err == errSkipped {
		r.Skipped = true
	} else if err != nil {
		r.Err = err.Error()
	}
	b, _ := json.Marshal(r)
	ctx, cancel := c.s.opCtx(context.Background())
	defer cancel()
	_, _ = c.s.pub(ctx, c.s.k.controlReply(req.From), b)
}

// pub publishes with plain PUBLISH in every mode and returns the number
// of subscribers Redis counted.
func (s *Store) pub(ctx context.Context, ch string, b []byte) (int64, error) {
	if s.cluster != nil {
		return s.cluster.Publish(ctx, ch, b).Result()
	}
	return s.client.Publish(ctx, ch, b).Result()
}

// Control publishes req to every other node and collects their answers
// until each node that received it answered, or OpTimeout passed. This
// node does not receive its own request: the caller acts locally. It
// needs HandleControl first (the answers come through its subscription).
func (s *Store) Control(ctx context.Context, req Control) (ControlResult, error) {
	s.ctlMu.Lock()
	c := s.ctl
	s.ctlMu.Unlock()
	if c == nil {
		return ControlResult{}, errors.New("redis: control: HandleControl was not called")
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	req.ID, req.From = hex.EncodeToString(id[:]), s.o.Node
	b, err := json.Marshal(req)
	if err != nil {
		return ControlResult{}, fmt.Errorf("redis: control: %w", err)
	}
	ch := make(chan ControlReply, 256)
	c.mu.Lock()
	c.pending[req.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}()
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.pub(ctx, s.k.control(), b)
	if err != nil {
		return ControlResult{}, s.fail("publish control request", err)
	}
	want := int(n) - 1 // every subscriber but this node
	if s.cluster != nil {
		want = -1 // unknown: wait the whole bound
	}
	var res ControlResult
	for want < 0 || len(res.Replies) < want {
		select {
		case r := <-ch:
			res.Replies = append(res.Replies, r)
		case <-ctx.Done():
			if want < 0 {
				res.Unanswered = -1
			} else {
				res.Unanswered = want - len(res.Replies)
			}
			return res, nil
		}
	}
	return res, nil
}

// closeControl stops the control subscription and waits for requests in
// progress.
func (s *Store) closeControl() {
	s.ctlMu.Lock()
	c := s.ctl
	s.ctl = nil
	s.ctlMu.Unlock()
	if c != nil {
		_ = c.ps.Close()
		c.wg.Wait()
	}
}
