package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/plugins/sdk"
)

var (
	ann = sdk.User{ID: "u1", Name: "Ann", Role: "teacher"}
	bob = sdk.User{ID: "u2", Name: "Bob", Role: "student"}
)

func newChat(t *testing.T, cfg string) *sdk.Harness {
	t.Helper()
	h, err := sdk.NewHarness("chat", New, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRegistered(t *testing.T) {
	if sdk.Registered() == nil {
		t.Fatal("init did not register the plugin")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     string
		wantErr string
	}{
		{``, ""},
		{`{"max_length":10,"history":5}`, ""},
		{`{"max_length":0}`, "max_length"},
		{`{"history":-1}`, "history"},
		{`{"history":"x"}`, "history"},
		{`[]`, "object"},
		{`{"max_history_bytes":16384}`, ""},
		{`{"max_history_bytes":` + strconv.Itoa(sdk.MaxJoinStateBytes) + `}`, ""},
		{`{"max_history_bytes":16383}`, "max_history_bytes"},
		{`{"max_history_bytes":` + strconv.Itoa(sdk.MaxJoinStateBytes+1) + `}`, "max_history_bytes"},
	} {
		_, err := sdk.NewHarness("chat", New, tc.cfg)
		if (err != nil) != (tc.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("config %s: err = %v, want containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestSend(t *testing.T) {
	for _, tc := range []struct {
		name       string
		data       string
		wantReject string
		wantData   string
	}{
		{"plain", `{"text":"hello"}`, "", `{"text":"hello"}`},
		{"trimmed", `{"text":"  hi there \n"}`, "", `{"text":"hi there"}`},
		{"escaped", `{"text":"\"q\"\\<\u00e9"}`, "", `{"text":"\"q\"\\<é"}`},
		{"empty", `{"text":""}`, "empty message", ""},
		{"blank", `{"text":"  \t\n "}`, "empty message", ""},
		{"missing", `{}`, "text must be a string", ""},
		{"number", `{"text":5}`, "text must be a string", ""},
		{"not object", `"hello"`, "data must be an object {text}", ""},
		{"no data", ``, "data must be an object {text}", ""},
		{"max length", `{"text":"` + strings.Repeat("é", 10) + `"}`, "", `{"text":"` + strings.Repeat("é", 10) + `"}`},
		{"too long", `{"text":"` + strings.Repeat("x", 11) + `"}`, "message too long (max 10 characters)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newChat(t, `{"max_length":10}`)
			res, err := h.Message(ann, "c1", "chat.send", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reject != tc.wantReject {
				t.Fatalf("reject = %q, want %q", res.Reject, tc.wantReject)
			}
			if tc.wantReject != "" {
				if len(h.State) != 0 || h.Seq != 0 {
					t.Fatalf("rejected call changed state %v seq %d", h.State, h.Seq)
				}
				return
			}
			if len(res.Emits) != 1 || res.Emits[0].Type != "chat.message" || !res.Emits[0].Durable || res.Emits[0].To.Kind != sdk.KindRoom {
				t.Fatalf("emits = %+v", res.Emits)
			}
			assertJSON(t, res.Emits[0].Data, tc.wantData)
		})
	}
}

func TestTypingAndUnknown(t *testing.T) {
	h := newChat(t, "")
	res, err := h.Message(bob, "c2", "chat.typing", `{"ignored":true}`)
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Event{Type: "chat.typing", Data: "{}", To: sdk.Target{Kind: sdk.KindOthers, Value: "c2"}}
	if len(res.Emits) != 1 || res.Emits[0] != want {
		t.Fatalf("emits = %+v, want %+v", res.Emits, want)
	}
	if h.Seq != 0 {
		t.Fatal("typing must be ephemeral")
	}
	res, err = h.Message(bob, "c2", "chat.shout", `{}`)
	if err != nil || res.Reject != "unknown type chat.shout" {
		t.Fatalf("unknown action: %+v, %v", res, err)
	}
}

type message struct {
	Seq  uint64 `json:"seq"`
	TS   *int64 `json:"ts"`
	From struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"from"`
	Text string `json:"text"`
}

func history(t *testing.T, h *sdk.Harness) []message {
	t.Helper()
	res, err := h.Join(bob, "c9", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Type != "chat.history" || len(res.Emits) != 0 {
		t.Fatalf("join result = %+v", res)
	}
	var v struct {
		Messages []message `json:"messages"`
	}
	if !strings.Contains(res.Replies[0].Data, `"messages":[`) {
		t.Fatalf("messages is not an array: %s", res.Replies[0].Data)
	}
	if err := json.Unmarshal([]byte(res.Replies[0].Data), &v); err != nil {
		t.Fatal(err)
	}
	return v.Messages
}

func TestHistory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		history  int
		sends    int
		otherSeq int // durable events of other plugins between sends
		want     []string
	}{
		{"empty", 3, 0, 0, nil},
		{"fewer than N", 3, 2, 0, []string{"m1", "m2"}},
		{"exactly N", 3, 3, 0, []string{"m1", "m2", "m3"}},
		{"wraps", 3, 7, 0, []string{"m5", "m6", "m7"}},
		{"seq gaps", 2, 5, 2, []string{"m4", "m5"}},
		{"disabled", 0, 3, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newChat(t, `{"history":`+itoa(tc.history)+`}`)
			seqs := map[string]uint64{}
			for i := 1; i <= tc.sends; i++ {
				h.Seq += uint64(tc.otherSeq)
				text := "m" + itoa(i)
				res, err := h.Message(ann, "c1", "chat.send", `{"text":"`+text+`"}`)
				if err != nil || res.Reject != "" {
					t.Fatalf("send: %+v %v", res, err)
				}
				seqs[text] = res.Emits[0].Seq
			}
			got := history(t, h)
			if len(got) != len(tc.want) {
				t.Fatalf("history = %+v, want texts %v", got, tc.want)
			}
			for i, m := range got {
				if m.Text != tc.want[i] || m.Seq != seqs[m.Text] || m.From.ID != "u1" || m.From.Name != "Ann" || m.From.Role != "teacher" {
					t.Errorf("message %d = %+v, want text %s seq %d from Ann", i, m, tc.want[i], seqs[tc.want[i]])
				}
			}
		})
	}
}

// TestHistoryTimestamps: every history entry carries the time its message
// was sent (ms since the epoch, from the clock the host gives the plugin),
// so a page can show when history messages were written; entries stored
// before ts was kept are served as they are.
func TestHistoryTimestamps(t *testing.T) {
	t.Run("fake clock", func(t *testing.T) {
		defer func(f func() int64) { now = f }(now)
		clock := int64(1764115200000)
		now = func() int64 { clock += 1500; return clock }
		h := newChat(t, "")
		h.State["m:0"] = append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, `{"seq":1,"from":{"id":"u1","name":"Ann","role":"teacher"},"text":"old"}`...)
		h.State["n"] = []byte("1")
		h.Seq = 1
		for _, text := range []string{"a", "b"} {
			if res, err := h.Message(ann, "c1", "chat.send", `{"text":"`+text+`"}`); err != nil || res.Reject != "" {
				t.Fatalf("send: %+v %v", res, err)
			}
		}
		got := history(t, h)
		if len(got) != 3 || got[0].TS != nil {
			t.Fatalf("history = %+v, want the old entry without ts first", got)
		}
		for i, want := range []int64{1764115201500, 1764115203000} {
			if m := got[i+1]; m.TS == nil || *m.TS != want {
				t.Errorf("entry %s ts = %v, want %d", m.Text, m.TS, want)
			}
		}
	})
	t.Run("wall clock", func(t *testing.T) {
		h := newChat(t, "")
		before := time.Now().UnixMilli()
		if _, err := h.Message(ann, "c1", "chat.send", `{"text":"now"}`); err != nil {
			t.Fatal(err)
		}
		after := time.Now().UnixMilli()
		got := history(t, h)
		if len(got) != 1 || got[0].TS == nil || *got[0].TS < before || *got[0].TS > after {
			t.Fatalf("history = %+v, want ts in [%d, %d]", got, before, after)
		}
	})
}

func TestHistoryShrinksAcrossConfigChange(t *testing.T) {
	h := newChat(t, `{"history":5}`)
	for i := 1; i <= 5; i++ {
		if _, err := h.Message(ann, "c1", "chat.send", `{"text":"m`+itoa(i)+`"}`); err != nil {
			t.Fatal(err)
		}
	}
	h2 := newChat(t, `{"history":2}`)
	h2.State, h2.Seq = h.State, h.Seq
	if _, err := h2.Message(ann, "c1", "chat.send", `{"text":"m6"}`); err != nil {
		t.Fatal(err)
	}
	got := history(t, h2)
	if len(got) != 2 || got[0].Text != "m5" || got[1].Text != "m6" {
		t.Fatalf("history = %+v, want m5 m6", got)
	}
}

func TestLeaveDoesNothing(t *testing.T) {
	h := newChat(t, "")
	res, err := h.Leave(ann, "c1", true, true)
	if err != nil || len(res.Emits)+len(res.Replies)+len(res.Ops) != 0 {
		t.Fatalf("leave = %+v, %v", res, err)
	}
}

func TestPluginFailureIsReported(t *testing.T) {
	h := newChat(t, "")
	h.State["n"] = []byte("not a number") // tolerated: counts from 0
	if _, err := h.Message(ann, "c1", "chat.send", `{"text":"x"}`); errors.Is(err, sdk.ErrPluginFailed) {
		t.Fatal(err)
	}
}

func assertJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("data = %s, want %s", got, want)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestHistoryByteBound: the history reply carries the newest messages that
// fit in max_history_bytes, never more bytes than that.
func TestHistoryByteBound(t *testing.T) {
	for _, tc := range []struct {
		name      string
		text      string // each message
		sends     int
		wantTexts int // newest messages in the reply
	}{
		// Each entry is the text plus ~70 bytes of seq and sender: 3 of
		// 5,000 characters fit in 16 KiB, 4 do not.
		{"large messages", strings.Repeat("a", 5000), 10, 3},
		{"small messages", "hi", 10, 10},
		// 3,000 control characters escape to 18,000 bytes: none fits.
		{"one message above the bound", strings.Repeat("\\u0001", 3000), 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newChat(t, `{"history":10,"max_length":5000,"max_history_bytes":16384}`)
			for i := 0; i < tc.sends; i++ {
				res, err := h.Message(ann, "c1", "chat.send", `{"text":"`+tc.text+`"}`)
				if err != nil || res.Reject != "" {
					t.Fatalf("send %d: %+v %v", i, res, err)
				}
			}
			res, err := h.Join(bob, "c9", true)
			if err != nil {
				t.Fatal(err)
			}
			raw := res.Replies[0].Data
			if len(raw) > 16384 {
				t.Fatalf("history of %d bytes > 16384", len(raw))
			}
			got := history(t, h)
			if len(got) != tc.wantTexts {
				t.Fatalf("history has %d messages, want %d", len(got), tc.wantTexts)
			}
			for i, m := range got {
				if want := uint64(tc.sends - tc.wantTexts + i + 1); m.Seq != want {
					t.Fatalf("message %d has seq %d, want %d (the newest)", i, m.Seq, want)
				}
			}
		})
	}
}

// TestDocsQuoteDefaults: docs/PROTOCOL.md states each bound with its key
// and the default defined here.
func TestDocsQuoteDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for key, def := range map[string]int{
		"max_length":        defaultMaxLength,
		"history":           defaultHistory,
		"max_history_bytes": defaultMaxHistoryBytes,
	} {
		if want := fmt.Sprintf("`%s` (%d", key, def); !strings.Contains(string(doc), want) {
			t.Errorf("docs/PROTOCOL.md does not say %s…)", want)
		}
	}
}

// TestWarmup: the samples registered with sdk.Warmup run cleanly under
// each config (else the host would log a warning and start instances
// cold), and leave the room's state as it was.
func TestWarmup(t *testing.T) {
	for _, cfg := range []string{"", `{"history":0}`, `{"max_length":3}`} {
		h := newChat(t, cfg)
		if err := h.Warm(); err != nil {
			t.Fatalf("config %s: %v", cfg, err)
		}
		if len(h.State) != 0 || h.Seq != 0 {
			t.Fatalf("config %s: warm-up changed the room: state %v, seq %d", cfg, h.State, h.Seq)
		}
	}
}
