//go:build !wasip1

package sdk

import (
	"errors"
	"strings"
	"testing"

	"github.com/classgate/classgate/plugins/abi"
)

// TestABIConstantsAgree checks the SDK's private copy of the ABI numbers
// against plugins/abi.
func TestABIConstantsAgree(t *testing.T) {
	for _, c := range []struct {
		name      string
		sdk, want int64
	}{
		{"statusOK", int64(statusOK), int64(abi.StatusOK)},
		{"statusError", int64(statusError), int64(abi.StatusError)},
		{"statusPanic", int64(statusPanic), int64(abi.StatusPanic)},
		{"statusBadInput", int64(statusBadInput), int64(abi.StatusBadInput)},
		{"resultNotFound", int64(resultNotFound), int64(abi.ResultNotFound)},
		{"resultInvalid", int64(resultInvalid), int64(abi.ResultInvalid)},
		{"resultLimit", int64(resultLimit), int64(abi.ResultLimit)},
		{"resultDenied", int64(resultDenied), int64(abi.ResultDenied)},
		{"flagFirstOfUser", int64(flagFirstOfUser), int64(abi.FlagFirstOfUser)},
		{"flagLastOfUser", int64(flagLastOfUser), int64(abi.FlagLastOfUser)},
		{"flagRoomEmpty", int64(flagRoomEmpty), int64(abi.FlagRoomEmpty)},
		{"emitDurable", int64(emitDurable), int64(abi.EmitDurable)},
		{"emitReply", int64(emitReply), int64(abi.EmitReply)},
		{"recordVersion", recordVersion, abi.RecordVersion},
		{"numFields", numFields, abi.NumFields},
		{"recordHeaderSize", recordHeaderSize, abi.RecordHeaderSize},
		{"fieldNamespace", fieldNamespace, abi.FieldNamespace},
		{"fieldType", fieldType, abi.FieldType},
		{"fieldRoom", fieldRoom, abi.FieldRoom},
		{"fieldConn", fieldConn, abi.FieldConn},
		{"fieldUserID", fieldUserID, abi.FieldUserID},
		{"fieldUserName", fieldUserName, abi.FieldUserName},
		{"fieldUserRole", fieldUserRole, abi.FieldUserRole},
		{"fieldData", fieldData, abi.FieldData},
		{"HookJoin", int64(HookJoin), int64(abi.HookJoin)},
		{"HookLeave", int64(HookLeave), int64(abi.HookLeave)},
		{"KindOthers", int64(KindOthers), int64(abi.TargetOthers)},
		{"KindRole", int64(KindRole), int64(abi.TargetRole)},
		{"KindUser", int64(KindUser), int64(abi.TargetUser)},
		{"KindConn", int64(KindConn), int64(abi.TargetConn)},
		{"LevelError", int64(LevelError), int64(abi.LogError)},
		{"maxEmits", maxEmits, abi.MaxEmits},
		{"maxOps", maxOps, abi.MaxOps},
		{"maxKeyLen", maxKeyLen, abi.MaxKeyLen},
		{"maxValueLen", maxValueLen, abi.MaxValueLen},
		{"maxTypeLen", maxTypeLen, abi.MaxTypeLen},
		{"maxRejectLen", maxRejectLen, abi.MaxRejectLen},
		{"maxOutputBytes", maxOutputBytes, abi.MaxOutputBytes},
		{"MaxJoinStateBytes", MaxJoinStateBytes, abi.MaxJoinStateBytes},
	} {
		if c.sdk != c.want {
			t.Errorf("%s = %d, plugins/abi has %d", c.name, c.sdk, c.want)
		}
	}
}

// TestRecordCodecsAgree encodes with plugins/abi (the host's encoder) and
// decodes with the SDK.
func TestRecordCodecsAgree(t *testing.T) {
	fields := [abi.NumFields]string{"chat", "chat.send", "room-1", "conn-1", "u1", "Ann é", "teacher", `{"text":"hi"}`}
	rec := abi.AppendRecord(nil, abi.HookMessage, abi.FlagFirstOfUser|abi.FlagRoomEmpty, 1<<40+7, &fields)
	var c Call
	if !decodeRecord(&c, rec) {
		t.Fatal("decode failed")
	}
	if c.Namespace != "chat" || c.Type != "chat.send" || c.Action != "send" || c.Room != "room-1" || c.Conn != "conn-1" ||
		c.Sender != (User{"u1", "Ann é", "teacher"}) || string(c.Data) != `{"text":"hi"}` ||
		!c.FirstOfUser || c.LastOfUser || !c.RoomEmpty || c.Seq != 1<<40+7 {
		t.Fatalf("decoded %+v", c)
	}
	back, err := abi.DecodeRecord(encodeRecord(abi.HookJoin, 0, 9, &fields))
	if err != nil || back.Hook != abi.HookJoin || back.Seq != 9 || string(back.Fields[abi.FieldUserName]) != "Ann é" {
		t.Fatalf("abi.DecodeRecord: %+v %v", back, err)
	}
	for _, bad := range [][]byte{nil, rec[:abi.RecordHeaderSize-1], append([]byte{2}, rec[1:]...), rec[:len(rec)-1]} {
		if decodeRecord(&c, bad) {
			t.Errorf("decoded a malformed record of %d bytes", len(bad))
		}
	}
}

func TestEntries(t *testing.T) {
	b := abi.AppendEntry(abi.AppendEntry(nil, "a", []byte("1")), "bb", nil)
	es, ok := decodeEntries(b)
	if !ok || len(es) != 2 || es[0].Key != "a" || string(es[0].Value) != "1" || es[1].Key != "bb" || len(es[1].Value) != 0 {
		t.Fatalf("%+v %v", es, ok)
	}
	if _, ok := decodeEntries(b[:len(b)-1]); ok {
		t.Fatal("truncated entries accepted")
	}
}

// TestHarnessEnforcesHostRules checks that the native stub refuses what the
// real host refuses, so native tests catch plugin bugs.
func TestHarnessEnforcesHostRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler Handler
		want    string
	}{
		{"invalid JSON", func(c *Call) error { return c.Broadcast("x", []byte("{")) }, "not valid UTF-8 JSON"},
		{"invalid UTF-8", func(c *Call) error { return c.Broadcast("x", []byte("\"\xff\"")) }, "not valid UTF-8 JSON"},
		{"bad type", func(c *Call) error { return c.Send(ToRoom(), "Shout", nil) }, "not a valid event type"},
		{"type too long", func(c *Call) error { return c.Send(ToRoom(), strings.Repeat("x", 62), nil) }, "not a valid event type"},
		{"reply above the output cap", func(c *Call) error {
			return c.Reply("big", []byte(`"`+strings.Repeat("x", maxOutputBytes)+`"`))
		}, "more than the cap"},
		{"state and reply above the output cap", func(c *Call) error {
			if err := c.Set("k", make([]byte, maxValueLen)); err != nil {
				return err
			}
			return c.Reply("big", []byte(`"`+strings.Repeat("x", MaxJoinStateBytes-2)+`"`))
		}, "more than the cap"},
		{"role without value", func(c *Call) error { return c.Send(ToRole(""), "x", nil) }, "needs a value"},
		{"too many emits", func(c *Call) error {
			for i := 0; i < 65; i++ {
				if err := c.Send(ToRoom(), "x", nil); err != nil {
					return err
				}
			}
			return nil
		}, "per-call limit"},
		{"panic", func(c *Call) error { panic("kaboom") }, "kaboom"},
		{"error", func(c *Call) error { return errors.New("nope") }, "nope"},
		{"empty key", func(c *Call) error { return c.Set("", nil) }, "per-call limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHarness("ns", func(Config) (Handler, error) { return tc.handler, nil }, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Message(User{ID: "u"}, "c", "ns.go", "")
			if !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want plugin failure containing %q", err, tc.want)
			}
		})
	}
}

// TestRejectAndForbid: Reject and Forbid both refuse the frame and drop
// the call's output; Forbid marks the refusal as a role or token rule.
func TestRejectAndForbid(t *testing.T) {
	for _, tc := range []struct {
		action, reason string
		wantReason     string
		wantForbidden  bool
	}{
		{"reject", "no", "no", false},
		{"reject", "", "rejected", false},
		{"forbid", "teachers only", "teachers only", true},
		{"forbid", "", "forbidden", true},
		{"forbid", strings.Repeat("r", 600), strings.Repeat("r", maxRejectLen), true},
	} {
		h, err := NewHarness("ns", func(Config) (Handler, error) {
			return func(c *Call) error {
				if err := c.Broadcast("x", nil); err != nil {
					return err
				}
				if c.Action == "forbid" {
					return c.Forbid(string(c.Data[1 : len(c.Data)-1]))
				}
				return c.Reject(string(c.Data[1 : len(c.Data)-1]))
			}, nil
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Message(User{ID: "u"}, "c", "ns."+tc.action, `"`+tc.reason+`"`)
		if err != nil || res.Reject != tc.wantReason || res.Forbidden != tc.wantForbidden || len(res.Emits) != 0 || h.Seq != 0 {
			t.Errorf("%s %q: %+v %v", tc.action, tc.reason, res, err)
		}
	}
}

func TestHarnessReadYourWritesAndReject(t *testing.T) {
	h, err := NewHarness("ns", func(Config) (Handler, error) {
		return func(c *Call) error {
			if err := c.Set("k", []byte("v")); err != nil {
				return err
			}
			if v, ok := c.Get("k"); !ok || string(v) != "v" {
				return errors.New("own write not visible")
			}
			if err := c.Clear(); err != nil {
				return err
			}
			if _, ok := c.Get("old"); ok {
				return errors.New("cleared key visible")
			}
			if c.Action == "no" {
				return c.Reject("")
			}
			return c.Broadcast("ok", nil)
		}, nil
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.State["old"] = []byte("1")
	res, err := h.Message(User{ID: "u"}, "c", "ns.no", "")
	if err != nil || res.Reject != "rejected" || h.State["old"] == nil {
		t.Fatalf("%+v %v %v", res, err, h.State)
	}
	if _, err := h.Message(User{ID: "u"}, "c", "ns.yes", ""); err != nil || len(h.State) != 0 || h.Seq != 1 {
		t.Fatalf("%v %v seq %d", err, h.State, h.Seq)
	}
}

func TestConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"n":3,"s":"x","b":true,"l":["a","b"],"f":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cfg.Int("n", 0); n != 3 || err != nil {
		t.Error(n, err)
	}
	if _, err := cfg.Int("f", 0); err == nil {
		t.Error("1.5 accepted as int")
	}
	if s, _ := cfg.String("missing", "def"); s != "def" {
		t.Error(s)
	}
	if l, err := cfg.Strings("l", nil); len(l) != 2 || err != nil {
		t.Error(l, err)
	}
	if b, err := cfg.Bool("b", false); !b || err != nil {
		t.Error(b, err)
	}
	if !cfg.Has("s") || cfg.Has("zz") {
		t.Error("Has")
	}
	if _, err := ParseConfig([]byte(`[1]`)); err == nil {
		t.Error("array config accepted")
	}
}
