package main

import (
	"encoding/json"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    inFrame
		wantErr bool
	}{
		{
			name: "chat message",
			in:   `{"type":"chat.message","room":"r1","seq":58,"ts":1764115200123,"from":{"id":"u1","name":"A}n","role":"teacher"},"data":{"text":"lg:17:0:3"}}`,
			want: inFrame{Type: []byte("chat.message"), Room: []byte("r1"), Seq: 58, TS: 1764115200123, Data: []byte(`{"text":"lg:17:0:3"}`)},
		},
		{
			name: "ack",
			in:   `{"type":"ack","id":"c-17","seq":58}`,
			want: inFrame{Type: []byte("ack"), ID: []byte("c-17"), Seq: 58},
		},
		{
			name: "error with spaces",
			in:   ` { "type" : "error" , "id" : "c-1", "code":"rate_limited","message":"slow \"down\""} `,
			want: inFrame{Type: []byte("error"), ID: []byte("c-1"), Code: []byte("rate_limited"), Msg: []byte(`slow \"down\"`)},
		},
		{
			name: "nested arrays",
			in:   `{"data":{"element":{"points":[[1,2],[3,4]],"id":"x"}},"type":"whiteboard.draw","seq":3}`,
			want: inFrame{Type: []byte("whiteboard.draw"), Seq: 3, Data: []byte(`{"element":{"points":[[1,2],[3,4]],"id":"x"}}`)},
		},
		{name: "empty object", in: `{}`, want: inFrame{}},
		{name: "not an object", in: `[1]`, wantErr: true},
		{name: "truncated", in: `{"type":"ack"`, wantErr: true},
		{name: "bad seq", in: `{"seq":"x"}`, wantErr: true},
		{name: "unterminated string", in: `{"type":"ack}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFrame([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Errorf("got %s\nwant %s", g, w)
			}
		})
	}
}

func TestFindMarker(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{`{"text":"lg:1764115200123456789:2:17"}`, 1764115200123456789, true},
		{`{"element":{"id":"lg:42:0:1","kind":"stroke"}}`, 42, true},
		{`{"x":1,"y":2,"m":"lg:7:1:9"}`, 7, true},
		{`{"text":"hello"}`, 0, false},
		{`{"text":"lg:abc:1"}`, 0, false},
		{`{"text":"lg:12"}`, 0, false},
	}
	for _, tc := range tests {
		got, ok := findMarker([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("findMarker(%s) = %d,%v; want %d,%v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
