package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseCentrifugo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want cfMsg
		bad  bool
	}{
		{name: "ping", in: `{}`, want: cfMsg{Ping: true}},
		{name: "ping with spaces", in: ` { } `, want: cfMsg{Ping: true}},
		{name: "connect reply", in: `{"id":1,"connect":{"client":"c1","version":"6.9.1","ping":25,"pong":true}}`,
			want: cfMsg{ID: 1, Result: []byte("connect")}},
		{name: "subscribe reply", in: `{"id":2,"subscribe":{}}`, want: cfMsg{ID: 2, Result: []byte("subscribe")}},
		{name: "publish reply", in: `{"id":7,"publish":{}}`, want: cfMsg{ID: 7, Result: []byte("publish")}},
		{name: "error reply", in: `{"id":7,"error":{"code":103,"message":"permission denied"}}`,
			want: cfMsg{ID: 7, Err: true, ErrCode: 103, ErrMsg: []byte("permission denied")}},
		{name: "error with escaped message", in: `{"id":9,"error":{"message":"a \"b\" c","code":109,"temporary":true}}`,
			want: cfMsg{ID: 9, Err: true, ErrCode: 109, ErrMsg: []byte(`a \"b\" c`)}},
		{name: "publication push", in: `{"push":{"channel":"lg-1","pub":{"data":{"text":"lg:5:3:9"},"info":{"user":"lg-1-0","client":"x"}}}}`,
			want: cfMsg{Push: true, Channel: []byte("lg-1"), Kind: []byte("pub"), Data: []byte(`{"text":"lg:5:3:9"}`)}},
		{name: "publication push with offset", in: `{"push":{"pub":{"offset":4,"data":{"text":"x"}},"channel":"c"}}`,
			want: cfMsg{Push: true, Channel: []byte("c"), Kind: []byte("pub"), Data: []byte(`{"text":"x"}`)}},
		{name: "unsubscribe push", in: `{"push":{"channel":"lg-1","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}`,
			want: cfMsg{Push: true, Channel: []byte("lg-1"), Kind: []byte("unsubscribe")}},
		{name: "not an object", in: `[1]`, bad: true},
		{name: "truncated", in: `{"id":1,"publish":{`, bad: true},
		{name: "bad id", in: `{"id":"x","publish":{}}`, bad: true},
		{name: "bad error code", in: `{"id":1,"error":{"code":"x"}}`, bad: true},
		{name: "missing colon", in: `{"id" 1}`, bad: true},
		{name: "truncated push", in: `{"push":{"channel":"c","pub":{"data":{"text":"x"}}`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCentrifugo([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %q without error: %+v", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse %q: %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parse %q\n got %s\nwant %s", tc.in, showCF(got), showCF(tc.want))
			}
		})
	}
}

func showCF(m cfMsg) string {
	return fmt.Sprintf("{ID:%d Ping:%v Result:%q Err:%v ErrCode:%d ErrMsg:%q Push:%v Channel:%q Kind:%q Data:%q}",
		m.ID, m.Ping, m.Result, m.Err, m.ErrCode, m.ErrMsg, m.Push, m.Channel, m.Kind, m.Data)
}

func TestEachLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{in: `{}`, want: []string{`{}`}},
		{in: "{\"id\":3,\"publish\":{}}\n{\"push\":{}}", want: []string{`{"id":3,"publish":{}}`, `{"push":{}}`}},
		{in: "{}\n{}\n", want: []string{`{}`, `{}`}},
		{in: "\n\n{\"id\":1}\n\n", want: []string{`{"id":1}`}},
		{in: "", want: nil},
	}
	for _, tc := range tests {
		var got []string
		eachLine([]byte(tc.in), func(l []byte) { got = append(got, string(l)) })
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("eachLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCentrifugoPublishFrame: the publish command is the JSON the protocol
// asks for, and its marker is what the receiver parses.
func TestCentrifugoPublishFrame(t *testing.T) {
	r := NewRun(Config{URLs: []string{"ws://x"}, Rooms: 2, Users: 3, Publishers: 1, Peer: PeerCentrifugo, TextSize: 4, RoomPrefix: "lg-"}, nil)
	cl := r.clients[3]
	b := centrifugoPeer{}.appendMessage(r, nil, cl, KindChat, 5, 1234)
	var cmd struct {
		ID      uint64 `json:"id"`
		Publish struct {
			Channel string `json:"channel"`
			Data    struct {
				Text string `json:"text"`
			} `json:"data"`
		} `json:"publish"`
	}
	if err := json.Unmarshal(b, &cmd); err != nil {
		t.Fatalf("publish frame %s: %v", b, err)
	}
	if cmd.ID != cfIDBase+5 || cmd.Publish.Channel != "lg-1" || cmd.Publish.Data.Text != "lg:1234:3:5 xxxx" {
		t.Errorf("publish frame %s", b)
	}
	sched, pub, n, ok := parseMarker(b)
	if !ok || sched != 1234 || pub != 3 || n != 5 {
		t.Errorf("marker of %s: %d %d %d %v", b, sched, pub, n, ok)
	}
}

// TestCentrifugoReceiver feeds batched frames to a member's receiver: the
// ping is answered with {}, the ack settles the pending message, the
// publications count as deliveries and their order is checked per
// publisher, errors and foreign publications are told apart.
func TestCentrifugoReceiver(t *testing.T) {
	r := NewRun(Config{URLs: []string{"ws://x"}, Rooms: 2, Users: 3, Publishers: 1, Peer: PeerCentrifugo, RoomPrefix: "lg-"}, nil)
	r.c.measureStartUnix.Store(0)
	r.c.measureEndUnix.Store(1 << 62)
	cl := r.clients[3] // room lg-1's publisher
	cl.pubTr = make([]SeqTracker, 1)
	cl.pending[1] = pendingMsg{sched: nowUnix(), kind: KindChat}
	cl.pending[2] = pendingMsg{sched: nowUnix(), kind: KindChat}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	conn := &wsConn{nc: a, fd: -1}
	pongs := make(chan []byte, 4)
	go func() {
		br := bufio.NewReader(b)
		for {
			var h [6]byte // masked frame, payload < 126
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			p := make([]byte, h[1]&0x7F)
			if _, err := io.ReadFull(br, p); err != nil {
				return
			}
			for i := range p {
				p[i] ^= h[2+i&3]
			}
			pongs <- p
		}
	}()
	pub := func(room, idx, n int) string {
		return fmt.Sprintf(`{"push":{"channel":"lg-%d","pub":{"data":{"text":"lg:%d:%d:%d"}}}}`, room, nowUnix(), idx, n)
	}
	recv := centrifugoPeer{}.receiver(r, cl, conn)
	recv([]byte("{}\n" + `{"id":3,"publish":{}}` + "\n" + pub(1, 3, 1) + "\n" + pub(1, 3, 3)))
	recv([]byte(`{"id":4,"error":{"code":103,"message":"permission denied"}}` + "\n" + pub(1, 3, 2) + "\n" + pub(1, 3, 3)))
	recv([]byte(pub(0, 0, 1) + "\n" + `{"push":{"channel":"lg-1","unsubscribe":{"code":2000}}}` + "\nnot json"))

	select {
	case p := <-pongs:
		if string(p) != "{}" {
			t.Errorf("answer to a ping %q, want {}", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong written")
	}
	if got := r.c.ackedTotal.Load(); got != 1 {
		t.Errorf("acked %d, want 1", got)
	}
	if len(cl.pending) != 0 {
		t.Errorf("pending %v: the ack and the error each settle one", cl.pending)
	}
	if got := r.c.recvTotal.Load(); got != 4 {
		t.Errorf("deliveries %d, want 4 (lg-1's n=1,3,2,3)", got)
	}
	tr := cl.pubTr[0]
	if tr.Reorders != 1 || tr.Duplicates != 1 || tr.Gaps() != 0 || tr.Last() != 3 {
		t.Errorf("order: reorders %d duplicates %d gaps %d last %d, want 1 1 0 3", tr.Reorders, tr.Duplicates, tr.Gaps(), tr.Last())
	}
	if got := r.c.otherRecv.Load(); got != 2 {
		t.Errorf("other pushes %d, want 2 (room lg-0's publication, the unsubscribe)", got)
	}
	r.c.errMu.Lock()
	defer r.c.errMu.Unlock()
	if r.c.errors["centrifugo_103"] != 1 || r.c.errors["centrifugo_unsubscribe"] != 1 || r.c.errors["bad_frame"] != 1 {
		t.Errorf("errors %v, want centrifugo_103, centrifugo_unsubscribe and bad_frame once", r.c.errors)
	}
}

// TestAgainstCentrifugo runs a tiny load against a real Centrifugo
// (CENTRIFUGO = path to its binary) on a free loopback port: every publish
// acknowledged, every publication delivered to every member of its
// channel, in order. Its pings come every 2 s, so the pongs are tested
// too.
func TestAgainstCentrifugo(t *testing.T) {
	bin := os.Getenv("CENTRIFUGO")
	if bin == "" {
		t.Skip("CENTRIFUGO (path to a centrifugo v6 binary) is not set; scripts/bench.sh installs one into bin/peers")
	}
	const secret = "loadgen-centrifugo-secret-0123456789"
	port := freePort(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`{
  "client": {"token": {"hmac_secret_key": %q}, "ping_interval": "2s", "pong_timeout": "1s"},
  "channel": {"without_namespace": {"allow_subscribe_for_client": true, "allow_publish_for_subscriber": true}},
  "http_server": {"address": "127.0.0.1", "port": %d},
  "log": {"level": "error"}
}`, secret, port)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-c", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("centrifugo exited: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if i == 100 {
			t.Fatalf("centrifugo did not listen on %s: %v\n%s", addr, err, out.String())
		}
	}
	cfg := Config{
		URLs: []string{"ws://" + addr + "/connection/websocket"}, Secret: secret, Peer: PeerCentrifugo,
		Rooms: 2, Users: 3, Publishers: 1, Rate: 20,
		Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Drain: 5 * time.Second,
		Mix: Mix{1, 0, 0}, Concurrency: 8, Points: 1, Quiet: true, SettleIdle: 1500 * time.Millisecond,
		HandshakeTTL: 10 * time.Second, PID: cmd.Process.Pid, RoomPrefix: "lg-",
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rep := NewRun(cfg, nil).Execute(ctx)
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !rep.Pass {
		t.Fatalf("run failed: %v\n%s\ncentrifugo output:\n%s", rep.Failures, text.String(), out.String())
	}
	d, m := rep.Deliveries, rep.Messages
	if rep.Connections.Connected != 6 || m.Sent == 0 || m.Acked != m.Sent || m.Unanswered != 0 {
		t.Errorf("connected %d of 6; acked %d of %d sent, unanswered %d", rep.Connections.Connected, m.Acked, m.Sent, m.Unanswered)
	}
	if d.Lost != 0 || d.Extra != 0 || d.Received != d.Expected || d.Expected != m.AckedDurable*3 {
		t.Errorf("deliveries: expected %d (acked %d × 3), received %d, lost %d, extra %d", d.Expected, m.AckedDurable, d.Received, d.Lost, d.Extra)
	}
	if o := rep.Order; o.Duplicates+o.Gaps+o.Reorders != 0 || rep.Connections.Disconnects != 0 {
		t.Errorf("order %+v, disconnects %d", o, rep.Connections.Disconnects)
	}
	t.Logf("\n%s", text.String())
}
