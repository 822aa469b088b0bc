package host

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
)

// chatSend is one chat.send of Ann in room with a full history.
func chatSend(room string, st map[string][]byte) *core.Call {
	return &core.Call{Hook: core.HookMessage, Type: "chat.send", Room: room, Conn: "c1", Seq: 60, State: st,
		Sender: core.User{ID: "u1", Name: "Ann", Role: "teacher"}, Data: json.RawMessage(`{"text":"hello"}`)}
}

// BenchmarkReset measures what the isolation contract costs per room
// switch: resetting a chat instance to its snapshot after one chat.send,
// with each way reset can put the memory back — copying all of it (the
// fallback without a snapshot file), mapping the snapshot file afresh, and
// copying back only the pages the call wrote (the default). It reports the
// linear memory of the instance, how many 4 KiB pages the call changed,
// and the CPU time of the reset and of the call after it (which pays the
// page faults a fresh mapping leaves).
func BenchmarkReset(b *testing.B) {
	st := chatState()
	ctx := context.Background()
	for _, mode := range []string{"copy-all", "map-file", "dirty-pages"} {
		b.Run(mode, func(b *testing.B) {
			defer lockThread()()
			h := newHost(b, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
			v := h.gen.entries["chat"].stable
			in, err := v.pool.get(ctx, "r1")
			if err != nil {
				b.Fatal(err)
			}
			defer v.pool.put(in)
			if in.snap == nil || (mode != "copy-all" && (in.snap.file == nil || in.lin == nil)) {
				b.Skip("no snapshot file on this platform")
			}
			snap := *in.snap
			if mode == "copy-all" {
				in.lin = nil
			}
			var spent, cpu time.Duration
			changed := 0
			var callCPU time.Duration
			for i := 0; i < b.N; i++ {
				in.room = "r1"
				c0 := threadCPU()
				if _, _, err := in.call(ctx, v, "chat", chatSend("r1", st)); err != nil {
					b.Fatal(err)
				}
				callCPU += threadCPU() - c0
				if i == 0 {
					mem, _ := in.mod.Memory().Read(0, in.mod.Memory().Size())
					for p := 0; p+pageSize <= len(mem) && p+pageSize <= len(snap.mem); p += pageSize {
						if !bytes.Equal(mem[p:p+pageSize], snap.mem[p:p+pageSize]) {
							changed++
						}
					}
				}
				if mode == "map-file" {
					in.lin.file = nil // forces a fresh mapping
				}
				t0, c0 := time.Now(), threadCPU()
				ok := in.reset()
				spent += time.Since(t0)
				cpu += threadCPU() - c0
				if !ok {
					b.Fatal("reset failed (memory grew?)")
				}
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N), "reset-ns")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "reset-cpu-ns")
			b.ReportMetric(float64(callCPU.Nanoseconds())/float64(b.N), "call-after-reset-cpu-ns")
			b.ReportMetric(float64(len(snap.mem)/pageSize), "pages/instance")
			b.ReportMetric(float64(changed), "changed-pages/call")
			b.ReportMetric(float64(in.resets.copiedPages)/float64(b.N), "copied-pages/reset")
		})
	}
}
