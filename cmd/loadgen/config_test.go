package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    Mix
		wantErr string
	}{
		{in: "chat=1,whiteboard=0,cursor=0", want: Mix{1, 0, 0}},
		{in: "chat=2, cursor=1", want: Mix{2, 0, 1}},
		{in: "whiteboard=3", want: Mix{0, 3, 0}},
		{in: "chat=0", wantErr: "at least one"},
		{in: "video=1", wantErr: "unknown kind"},
		{in: "chat", wantErr: "kind=weight"},
		{in: "chat=-1", wantErr: "non-negative"},
	}
	for _, tc := range tests {
		got, err := ParseMix(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMix(%q) err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestMixPick(t *testing.T) {
	tests := []struct {
		mix  Mix
		want []Kind
	}{
		{Mix{1, 0, 0}, []Kind{KindChat, KindChat, KindChat}},
		{Mix{2, 0, 1}, []Kind{KindChat, KindChat, KindCursor, KindChat, KindChat, KindCursor}},
		{Mix{1, 1, 1}, []Kind{KindChat, KindWhiteboard, KindCursor, KindChat}},
	}
	for _, tc := range tests {
		for n, want := range tc.want {
			if got := tc.mix.Pick(uint64(n)); got != want {
				t.Errorf("%v.Pick(%d) = %v, want %v", tc.mix, n, got, want)
			}
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			args: []string{"-secret", "s"},
			check: func(t *testing.T, c Config) {
				if c.Rooms != 100 || c.Users != 30 || c.Rate != 2000 || len(c.URLs) != 1 || c.Conns() != 3000 {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "two nodes",
			args: []string{"-secret", "s", "-url", "ws://127.0.0.1:1/ws, ws://127.0.0.1:2/ws"},
			check: func(t *testing.T, c Config) {
				if len(c.URLs) != 2 || c.URLs[1] != "ws://127.0.0.1:2/ws" {
					t.Errorf("URLs = %q", c.URLs)
				}
			},
		},
		{name: "missing secret", args: nil, wantErr: "-secret"},
		{name: "bad url", args: []string{"-secret", "s", "-url", "http://x/ws"}, wantErr: "-url"},
		{name: "too many publishers", args: []string{"-secret", "s", "-users", "2", "-publishers", "3"}, wantErr: "-publishers"},
		{name: "idle ignores rate", args: []string{"-secret", "s", "-idle", "-rate", "0"}},
		{name: "stray args", args: []string{"-secret", "s", "extra"}, wantErr: "unexpected"},
		{
			name: "centrifugo peer",
			args: []string{"-secret", "s", "-peer", "centrifugo", "-url", "ws://127.0.0.1:1/connection/websocket"},
			check: func(t *testing.T, c Config) {
				if c.Peer != PeerCentrifugo {
					t.Errorf("Peer = %q", c.Peer)
				}
			},
		},
		{name: "unknown peer", args: []string{"-secret", "s", "-peer", "nats"}, wantErr: "-peer \"nats\""},
		{name: "centrifugo without verify", args: []string{"-secret", "s", "-peer", "centrifugo", "-verify"}, wantErr: "-verify"},
		{name: "centrifugo without reconnect", args: []string{"-secret", "s", "-peer", "centrifugo", "-reconnect"}, wantErr: "-reconnect"},
		{name: "centrifugo chat only", args: []string{"-secret", "s", "-peer", "centrifugo", "-mix", "chat=1,cursor=1"}, wantErr: "chat only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
