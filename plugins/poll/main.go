// Command poll is the classgate poll plugin (namespace "poll"), an example
// of a classroom feature shipped as a plugin and enabled by configuration
// (it is embedded but not in the default configuration):
//
//	plugins:
//	  namespaces:
//	    poll: {source: embedded:poll, rollout: 10}
//
// Built to WebAssembly with the others by plugins/build.sh:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o poll.wasm ./plugins/poll
//
// Frames:
//
//	poll.open {question, options:[…]} → durable poll.opened {question, options}
//	                                    (roles in open_roles; replaces any poll)
//	poll.vote {choice}                → durable poll.tally {counts:[…], votes}
//	                                    (once per user, while open; choice is
//	                                    the option's index)
//	poll.close {}                     → durable poll.closed {counts, votes}
//	                                    (roles in open_roles)
//	(every join)                      → reply poll.state {open, question,
//	                                    options, counts, votes} ({"open":false}
//	                                    when there has been no poll)
//
// Config (all optional): open_roles ([teacher]), max_options (10),
// max_question (300 bytes), max_option (100 bytes).
//
// State: "p" → {"question":…,"options":[…]} of the current poll; "o" → "1"
// while open, "0" once closed; "t" → the counts, comma-separated; "v:<user
// id>" → the user's choice. Written in the allocation-frugal style of
// plugins/README.md ("Writing handlers that stay fast").
package main

import (
	"slices"
	"strconv"
	"strings"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
	"github.com/classgate/classgate/plugins/sdk"
)

func init() { sdk.Register(New) }

func main() {}

type poll struct {
	openRoles              []string
	maxOptions             int
	maxQuestion, maxOption int
	buf                    []byte // reused for outputs (the host copies them)
	counts                 []int
}

// New builds the poll handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	p := &poll{}
	var err error
	if p.openRoles, err = cfg.Strings("open_roles", []string{"teacher"}); err != nil {
		return nil, err
	}
	if p.maxOptions, err = cfg.Int("max_options", 10); err != nil {
		return nil, err
	}
	if p.maxQuestion, err = cfg.Int("max_question", 300); err != nil {
		return nil, err
	}
	if p.maxOption, err = cfg.Int("max_option", 100); err != nil {
		return nil, err
	}
	return p.handle, nil
}

func (p *poll) handle(c *sdk.Call) error {
	switch c.Hook {
	case sdk.HookJoin:
		return p.join(c)
	case sdk.HookLeave:
		return nil
	}
	switch c.Action {
	case "open":
		return p.open(c)
	case "vote":
		return p.vote(c)
	case "close":
		return p.close(c)
	}
	return c.Reject("unknown type " + c.Type)
}

func (p *poll) open(c *sdk.Call) error {
	if !slices.Contains(p.openRoles, c.Sender.Role) {
		return c.Forbid("only " + strings.Join(p.openRoles, ", ") + " can open or close a poll")
	}
	obj, err := c.Object()
	if err != nil {
		return c.Reject("data must be an object {question, options}")
	}
	q, ok, err := obj.String("question")
	if err != nil || !ok || strings.TrimSpace(q) == "" || len(q) > p.maxQuestion {
		return c.Reject("question must be a non-empty string of at most " + strconv.Itoa(p.maxQuestion) + " bytes")
	}
	raw, _ := obj.Get("options")
	opts, err := jsonlite.Elements(raw)
	if err != nil || len(opts) < 2 || len(opts) > p.maxOptions {
		return c.Reject("options must be an array of 2–" + strconv.Itoa(p.maxOptions) + " strings")
	}
	b := append(p.buf[:0], `{"question":`...)
	b = jsonlite.AppendString(b, q)
	b = append(b, `,"options":[`...)
	for i, o := range opts {
		s, err := jsonlite.Unquote(o)
		if err != nil || s == "" || len(s) > p.maxOption {
			return c.Reject("each option must be a non-empty string of at most " + strconv.Itoa(p.maxOption) + " bytes")
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonlite.AppendString(b, s)
	}
	b = append(b, "]}"...)
	p.buf = b
	if err := c.Clear(); err != nil { // the previous poll and its votes
		return err
	}
	if err := c.Set("p", b); err != nil {
		return err
	}
	if err := c.Set("o", []byte("1")); err != nil {
		return err
	}
	zero := strings.TrimSuffix(strings.Repeat("0,", len(opts)), ",")
	if err := c.Set("t", []byte(zero)); err != nil {
		return err
	}
	return c.Broadcast("opened", b)
}

// tally reads the counts into p.counts.
func (p *poll) tally(c *sdk.Call) bool {
	raw, ok := c.Get("t")
	if !ok {
		return false
	}
	p.counts = p.counts[:0]
	for _, f := range strings.Split(string(raw), ",") {
		n, _ := strconv.Atoi(f)
		p.counts = append(p.counts, n)
	}
	return true
}

// appendCounts appends "counts":[…],"votes":n.
func (p *poll) appendCounts(b []byte) []byte {
	b = append(b, `"counts":[`...)
	votes := 0
	for i, n := range p.counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(n), 10)
		votes += n
	}
	b = append(b, `],"votes":`...)
	return strconv.AppendInt(b, int64(votes), 10)
}

func (p *poll) vote(c *sdk.Call) error {
	if o, _ := c.Get("o"); string(o) != "1" || !p.tally(c) {
		return c.Reject("no poll is open")
	}
	key := "v:" + c.Sender.ID
	if _, voted := c.Get(key); voted {
		return c.Reject("you have already voted")
	}
	raw, ok, err := jsonlite.Lookup(c.Data, "choice")
	choice, cerr := strconv.Atoi(string(raw))
	if err != nil || !ok || cerr != nil || choice < 0 || choice >= len(p.counts) {
		return c.Reject("choice must be the index of an option, 0–" + strconv.Itoa(len(p.counts)-1))
	}
	p.counts[choice]++
	b := p.buf[:0]
	for i, n := range p.counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	if err := c.Set("t", b); err != nil {
		return err
	}
	if err := c.Set(key, raw); err != nil {
		return err
	}
	b = p.appendCounts(append(b[:0], '{'))
	p.buf = append(b, '}')
	return c.Broadcast("tally", p.buf)
}

func (p *poll) close(c *sdk.Call) error {
	if !slices.Contains(p.openRoles, c.Sender.Role) {
		return c.Forbid("only " + strings.Join(p.openRoles, ", ") + " can open or close a poll")
	}
	if o, _ := c.Get("o"); string(o) != "1" || !p.tally(c) {
		return c.Reject("no poll is open")
	}
	if err := c.Set("o", []byte("0")); err != nil {
		return err
	}
	p.buf = append(p.appendCounts(append(p.buf[:0], '{')), '}')
	return c.Broadcast("closed", p.buf)
}

func (p *poll) join(c *sdk.Call) error {
	q, ok := c.Get("p")
	if !ok || !p.tally(c) {
		return c.Reply("state", []byte(`{"open":false}`))
	}
	o, _ := c.Get("o")
	b := append(p.buf[:0], `{"open":`...)
	b = strconv.AppendBool(b, string(o) == "1")
	b = append(b, ',')
	b = append(b, q[1:len(q)-1]...) // "question":…,"options":[…]
	b = append(b, ',')
	b = p.appendCounts(b)
	p.buf = append(b, '}')
	return c.Reply("state", p.buf)
}
