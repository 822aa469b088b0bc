package wsserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/e2e"
)

// connRecorder is a Router that only records the connections it is given.
type connRecorder struct{ ids chan core.ConnID }

func (r *connRecorder) Connect(_ context.Context, info core.ConnInfo) error {
	r.ids <- info.ID
	return nil
}
func (*connRecorder) Receive(context.Context, core.ConnID, []byte) error { return nil }
func (*connRecorder) Shed(context.Context, core.ConnID, []byte) (bool, error) {
	return false, nil
}
func (*connRecorder) ReceiveBinary(context.Context, core.ConnID) error { return nil }
func (*connRecorder) Disconnect(context.Context, core.ConnID) error    { return nil }

// BenchmarkFanOut is the room fan-out path alone: one 200-byte frame to
// every member of a 30-member room (SendBatch), over real loopback
// sockets whose clients read and discard. Every 64 messages (and at the
// end) it waits until every client has received every copy, so the figure
// includes the delivery, not only the submission. ns/frame is per
// delivered frame; cpu-ns/frame the process's CPU time per delivered
// frame.
func BenchmarkFanOut(b *testing.B) {
	for _, m := range outputModes {
		b.Run(m.name, func(b *testing.B) { benchFanOut(b, m.noIOUring, 30, 200) })
	}
}

func benchFanOut(b *testing.B, noIOUring bool, members, size int) {
	v, err := jwt.New(jwt.Options{HS256Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	srv := wsserver.New(wsserver.Options{Verifier: v, NoIOUring: noIOUring, PingInterval: -1, SendQueue: 1 << 16})
	if !noIOUring && !srv.IOUring() {
		b.Skip("io_uring is not available on this kernel")
	}
	rec := &connRecorder{ids: make(chan core.ConnID, members)}
	srv.Attach(rec)
	hs := httptest.NewServer(srv)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	}()
	tok := e2e.Token(b, secret, "bench", "student", []string{"*"}, time.Hour)
	frame := []byte(`{"type":"chat.message","data":"` + strings.Repeat("x", size-34) + `"}`)
	wire := len(frame) + 4 // header of a 126..65535-byte text frame; 2 below 126
	if len(frame) < 126 {
		wire = len(frame) + 2
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	ids := make([]core.ConnID, members)
	for i := range members {
		nc := rawDial(b, hs.Listener.Addr().String(), tok)
		defer nc.Close()
		ids[i] = <-rec.ids
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := nc.Read(buf)
				got.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv.SendBatch(ctx, ids, frame)
		if i%64 == 63 || i == b.N-1 { // bound the backlog: wait for delivery
			want := int64(i+1) * int64(members*wire)
			for got.Load() < want {
				runtimeGosched()
			}
		}
	}
	b.StopTimer()
	frames := float64(b.N * members)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frames, "ns/frame")
	// CPU time (user+system) of the whole process, the clients' reading
	// included, per delivered frame: less at the mercy of a shared
	// machine's load than the wall clock.
	b.ReportMetric(float64(cpuTime()-cpu0)/frames, "cpu-ns/frame")
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// rawDial opens a WebSocket connection by hand (the server's reply is
// only read up to the end of its headers) and returns the socket.
func rawDial(b *testing.B, addr, tok string) net.Conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(nc, "GET /ws?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", tok, addr)
	br := bufio.NewReaderSize(nc, 16)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %v %v", resp, err)
	}
	if br.Buffered() > 0 {
		b.Fatal("bytes after the handshake response")
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nc
}

func runtimeGosched() { runtime.Gosched() }
