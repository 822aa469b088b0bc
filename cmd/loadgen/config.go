package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is one kind of message a publisher sends.
type Kind int

// The kinds of message in a mix.
const (
	KindChat       Kind = iota // chat.send {text}: durable
	KindWhiteboard             // whiteboard.draw {element}: durable
	KindCursor                 // whiteboard.cursor {x,y}: ephemeral
	numKinds
)

var kindNames = [numKinds]string{"chat", "whiteboard", "cursor"}

// sendType is the frame type a publisher sends for each kind.
var sendType = [numKinds]string{"chat.send", "whiteboard.draw", "whiteboard.cursor"}

// recvType is the event type the room sees for each kind.
var recvType = [numKinds]string{"chat.message", "whiteboard.draw", "whiteboard.cursor"}

// Durable reports whether the room's event for k carries a seq.
func (k Kind) Durable() bool { return k != KindCursor }

func (k Kind) String() string { return kindNames[k] }

// Mix is the relative weight of each kind of message.
type Mix [numKinds]int

// ParseMix parses "chat=1,whiteboard=0,cursor=0". Kinds left out weigh 0;
// at least one weight must be positive.
func ParseMix(s string) (Mix, error) {
	var m Mix
	total := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return m, fmt.Errorf("mix %q: want kind=weight", part)
		}
		k := -1
		for i, n := range kindNames {
			if n == strings.TrimSpace(name) {
				k = i
			}
		}
		if k < 0 {
			return m, fmt.Errorf("mix %q: unknown kind (want chat, whiteboard or cursor)", name)
		}
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 {
			return m, fmt.Errorf("mix %q: weight must be a non-negative integer", part)
		}
		m[k] = w
		total += w
	}
	if total == 0 {
		return m, errors.New("mix: at least one weight must be positive")
	}
	return m, nil
}

// Pick returns the kind of the n-th message: a deterministic round-robin
// over the weights (chat=2,cursor=1 → chat, chat, cursor, chat, …).
func (m Mix) Pick(n uint64) Kind {
	total := 0
	for _, w := range m {
		total += w
	}
	r := int(n % uint64(total))
	for k, w := range m {
		if r < w {
			return Kind(k)
		}
		r -= w
	}
	return KindChat
}

func (m Mix) String() string {
	parts := make([]string, 0, numKinds)
	for k, w := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", kindNames[k], w))
	}
	return strings.Join(parts, ",")
}

// HasDurable reports whether any durable kind has a positive weight.
func (m Mix) HasDurable() bool { return m[KindChat]+m[KindWhiteboard] > 0 }

// Config is everything a run needs, from the command line.
type Config struct {
	URLs         []string      // gateway WebSocket URLs; clients are spread round-robin
	Secret       string        // HS256 secret tokens are signed with
	Rooms        int           // number of rooms
	Users        int           // connections per room (publishers included)
	Publishers   int           // publishers per room
	Rate         float64       // total publishes per second over all publishers
	Duration     time.Duration // measured window (or hold time with Idle)
	Warmup       time.Duration // publishing before the measured window
	Drain        time.Duration // longest wait for in-flight deliveries at the end
	Mix          Mix           // message kinds
	ConnectRate  float64       // new connections per second; 0 = as fast as Concurrency allows
	Concurrency  int           // connection attempts in flight at once
	PID          int           // server pid to sample from /proc; 0 = none
	JSON         bool          // machine-readable report on stdout
	Markdown     bool          // report as a Markdown table on stdout
	Idle         bool          // connect and hold, publish nothing
	AllowLoss    bool          // exit 0 even when something was lost or failed
	RoomPrefix   string        // room ids are RoomPrefix + index
	Points       int           // points per whiteboard stroke
	TextSize     int           // padding added to chat text, in bytes
	Quiet        bool          // no progress lines
	SettleIdle   time.Duration // wait after connecting before the idle sample
	HandshakeTTL time.Duration // per-connection dial+join timeout
	MaxP99       time.Duration // fail when the p99 latency exceeds it; 0 = no limit
	CPUProfile   string        // write loadgen's own CPU profile here
	Reconnect    bool          // reconnect after an unexpected close, resuming with since
	ReconnectFor time.Duration // how long one client keeps trying to reconnect
	Verify       bool          // per-message, per-member delivery ledger (verify.go)
	PhasesStdin  bool          // publish until "stop" on stdin; "phase NAME" lines start phases
	Retries      int           // re-sends of a message answered internal, same id
	Peer         string        // the server's protocol: PeerClassgate or PeerCentrifugo
}

// ParseFlags reads the command line into a Config and validates it.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "ws://127.0.0.1:8080/ws", "gateway WebSocket URL(s), comma-separated; clients are spread round-robin over them")
	fs.StringVar(&c.Secret, "secret", "", "HS256 secret of the gateway (CLASSGATE_AUTH__HS256_SECRET); required")
	fs.IntVar(&c.Rooms, "rooms", 100, "number of rooms")
	fs.IntVar(&c.Users, "users", 30, "connections per room, publishers included")
	fs.IntVar(&c.Publishers, "publishers", 1, "publishers per room")
	fs.Float64Var(&c.Rate, "rate", 2000, "total messages published per second (open loop)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "measured window (with -idle: how long to hold the connections)")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "publishing before the measured window starts")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "longest wait for in-flight deliveries after publishing stops")
	mix := fs.String("mix", "chat=1,whiteboard=0,cursor=0", "relative weights of chat, whiteboard (strokes) and cursor (ephemeral) messages")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 0, "new connections per second; 0 = as fast as -connect-concurrency allows")
	fs.IntVar(&c.Concurrency, "connect-concurrency", 256, "connection attempts in flight at once")
	fs.IntVar(&c.PID, "pid", 0, "gateway pid: sample its RSS and CPU from /proc")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON on stdout")
	fs.BoolVar(&c.Markdown, "markdown", false, "print the report as a Markdown table of key figures on stdout")
	fs.BoolVar(&c.Idle, "idle", false, "connect and join, then hold the connections for -duration without publishing")
	fs.BoolVar(&c.AllowLoss, "allow-loss", false, "exit 0 even when messages were lost or errors occurred")
	fs.StringVar(&c.RoomPrefix, "room-prefix", "lg-", "prefix of room ids (room ids are prefix + index)")
	fs.IntVar(&c.Points, "points", 8, "points per whiteboard stroke")
	fs.IntVar(&c.TextSize, "text-size", 0, "extra bytes of padding in each chat text")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress lines on stderr")
	fs.DurationVar(&c.SettleIdle, "settle", 2*time.Second, "wait after connecting before sampling the server's idle memory")
	fs.DurationVar(&c.HandshakeTTL, "handshake-timeout", 30*time.Second, "longest dial+join per connection")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write loadgen's own CPU profile to this file (to see what the load generator costs)")
	fs.DurationVar(&c.MaxP99, "max-p99", 0, "fail the run when the end-to-end p99 latency exceeds this; 0 = no limit")
	fs.BoolVar(&c.Reconnect, "reconnect", false, "reconnect after an unexpected close (to the next -url), re-joining with since")
	fs.DurationVar(&c.ReconnectFor, "reconnect-for", 60*time.Second, "how long one client keeps trying to reconnect before it counts as dropped")
	fs.IntVar(&c.Retries, "retry", 0, "re-send a message answered with error \"internal\" (same id, after 250ms) up to this many times; the gateway's dedupe must keep it from being delivered twice")
	fs.BoolVar(&c.Verify, "verify", false, "check every acknowledged message against every member: delivered once in order, covered by a resync, or lost (the verdict replaces the room totals)")
	fs.BoolVar(&c.PhasesStdin, "phases-stdin", false, "publish until a \"stop\" line (or EOF) on stdin instead of -warmup/-duration; a \"phase NAME\" line starts a phase of the -verify report (for a chaos driver)")
	fs.StringVar(&c.Peer, "peer", PeerClassgate, "the server's protocol: classgate (PROTOCOL v1) or centrifugo (Centrifugo's bidirectional JSON protocol; -url ws://HOST:PORT/connection/websocket, -secret its HMAC token key; chat only)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	m, err := ParseMix(*mix)
	if err != nil {
		return c, err
	}
	c.Mix = m
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "ws" && pu.Scheme != "wss") || pu.Host == "" {
			return c, fmt.Errorf("-url %q: want ws://host:port/path", u)
		}
		c.URLs = append(c.URLs, u)
	}
	return c, c.Validate()
}

// Validate checks a Config before anything connects.
func (c *Config) Validate() error {
	var errs []string
	if len(c.URLs) == 0 {
		errs = append(errs, "-url: at least one URL")
	}
	if len(c.Secret) == 0 {
		errs = append(errs, "-secret is required")
	}
	if c.Rooms < 1 || c.Users < 1 {
		errs = append(errs, "-rooms and -users must be at least 1")
	}
	if !c.Idle {
		if c.Publishers < 1 || c.Publishers > c.Users {
			errs = append(errs, "-publishers must be between 1 and -users")
		}
		if c.Rate <= 0 {
			errs = append(errs, "-rate must be positive")
		}
	}
	if c.Duration <= 0 {
		errs = append(errs, "-duration must be positive")
	}
	if c.Warmup < 0 || c.Drain < 0 || c.ConnectRate < 0 {
		errs = append(errs, "-warmup, -drain and -connect-rate must not be negative")
	}
	if c.Concurrency < 1 {
		errs = append(errs, "-connect-concurrency must be at least 1")
	}
	if c.Reconnect && c.ReconnectFor <= 0 {
		errs = append(errs, "-reconnect-for must be positive")
	}
	if c.PhasesStdin && c.Idle {
		errs = append(errs, "-phases-stdin needs publishing (not -idle)")
	}
	if c.Retries < 0 {
		errs = append(errs, "-retry must not be negative")
	}
	if _, err := newPeer(c.Peer); err != nil {
		errs = append(errs, err.Error())
	}
	if c.Peer == PeerCentrifugo {
		if c.Reconnect || c.Verify || c.Retries > 0 {
			errs = append(errs, "-peer centrifugo: -reconnect, -verify and -retry are classgate's (they rely on its seq, since and dedupe)")
		}
		if c.Mix[KindWhiteboard]+c.Mix[KindCursor] > 0 {
			errs = append(errs, "-peer centrifugo: -mix must be chat only")
		}
	}
	if c.Points < 1 {
		errs = append(errs, "-points must be at least 1")
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Conns is the number of connections the run opens.
func (c *Config) Conns() int { return c.Rooms * c.Users }

// RoomID is the id of room i.
func (c *Config) RoomID(i int) string { return c.RoomPrefix + strconv.Itoa(i) }
