package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// block returns the trimmed, non-empty lines of s between the first line
// containing start (after the first occurrence of after) and the next line
// whose trimmed text is end.
func block(t *testing.T, s, after, start, end string) []string {
	t.Helper()
	i := strings.Index(s, after)
	if i < 0 {
		t.Fatalf("%q not found", after)
	}
	lines := strings.Split(s[i:], "\n")
	var out []string
	in := false
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case !in && strings.Contains(l, start):
			in = true
		case in && l == end:
			return out
		case in && l != "":
			out = append(out, l)
		}
	}
	t.Fatalf("block after %q from %q to %q not closed", after, start, end)
	return nil
}

// TestPeerConfigDocumented: the Centrifugo config and version that
// docs/PERFORMANCE.md ("Peer: Centrifugo") shows are the ones
// scripts/bench.sh uses.
func TestPeerConfigDocumented(t *testing.T) {
	script, err := os.ReadFile("../../scripts/bench.sh")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/PERFORMANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	got := block(t, string(doc), "### Peer: Centrifugo", "```json", "```")
	want := block(t, string(script), "start_centrifugo() {", "<<-JSON", "JSON")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("docs/PERFORMANCE.md's peer config differs from scripts/bench.sh's:\ndoc:\n%s\nscript:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	m := regexp.MustCompile(`(?m)^CENTRIFUGO_VERSION=(\S+)$`).FindStringSubmatch(string(script))
	if m == nil {
		t.Fatal("CENTRIFUGO_VERSION not found in scripts/bench.sh")
	}
	peer := string(doc)[strings.Index(string(doc), "### Peer: Centrifugo"):]
	peer = peer[:strings.Index(peer, "\n### ")]
	for _, s := range []string{m[1], "centrifugo/v6@" + m[1]} {
		if !strings.Contains(peer, s) {
			t.Errorf("docs/PERFORMANCE.md's Peer section does not name %q (scripts/bench.sh's version)", s)
		}
	}
	if strings.Count(peer, "v6.") != strings.Count(peer, m[1]) {
		t.Errorf("docs/PERFORMANCE.md's Peer section names another v6 version than %s", m[1])
	}
}

func TestNewPeer(t *testing.T) {
	tests := []struct {
		name, want string
		bad        bool
	}{
		{name: "", want: PeerClassgate},
		{name: PeerClassgate, want: PeerClassgate},
		{name: PeerCentrifugo, want: PeerCentrifugo},
		{name: "nats", bad: true},
	}
	for _, tc := range tests {
		p, err := newPeer(tc.name)
		if tc.bad {
			if err == nil {
				t.Errorf("newPeer(%q) accepted", tc.name)
			}
			continue
		}
		if err != nil || p.name() != tc.want {
			t.Errorf("newPeer(%q) = %v, %v; want %s", tc.name, p, err, tc.want)
		}
	}
}
