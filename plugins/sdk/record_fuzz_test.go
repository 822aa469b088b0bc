//go:build !wasip1

package sdk

import (
	"testing"

	"github.com/classgate/classgate/plugins/abi"
)

// FuzzGuestDecodeRecord holds the guest's call-record decoder to the
// host's (plugins/abi): on any bytes neither panics, both accept the same
// records, and they read the same values.
func FuzzGuestDecodeRecord(f *testing.F) {
	fields := [abi.NumFields]string{"chat", "chat.send", "room-1", "conn-1", "u1", "Ann é", "teacher", `{"text":"hi"}`}
	f.Add(abi.AppendRecord(nil, abi.HookMessage, abi.FlagFirstOfUser, 42, &fields))
	f.Add(abi.AppendRecord(nil, abi.HookJoin, 0, 0, &[abi.NumFields]string{"whiteboard"}))
	f.Add(make([]byte, abi.RecordHeaderSize))
	f.Add([]byte("not a record"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Call
		ok := decodeRecord(&c, b)
		r, err := abi.DecodeRecord(b)
		if ok != (err == nil) {
			t.Fatalf("guest decoder ok=%v, host decoder err=%v", ok, err)
		}
		if !ok {
			return
		}
		got := [abi.NumFields]string{c.Namespace, c.Type, c.Room, c.Conn, c.Sender.ID, c.Sender.Name, c.Sender.Role, string(c.Data)}
		for i := range got {
			if got[i] != string(r.Fields[i]) {
				t.Fatalf("field %d: guest %q, host %q", i, got[i], r.Fields[i])
			}
		}
		if uint32(c.Hook) != r.Hook || c.Seq != r.Seq ||
			c.FirstOfUser != (r.Flags&abi.FlagFirstOfUser != 0) || c.LastOfUser != (r.Flags&abi.FlagLastOfUser != 0) || c.RoomEmpty != (r.Flags&abi.FlagRoomEmpty != 0) {
			t.Fatalf("guest %+v, host %+v", c, r)
		}
	})
}
