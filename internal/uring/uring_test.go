package uring_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/uring"
)

// forBatchers runs f once per uring.Batcher: a ring of entries (skipped
// where io_uring is unavailable) and Syscalls. Both must give every op
// the result a non-blocking write(2) or read(2) gives.
func forBatchers(t *testing.T, entries uint32, f func(t *testing.T, b uring.Batcher)) {
	t.Run("ring", func(t *testing.T) { f(t, newRing(t, entries)) })
	t.Run("syscalls", func(t *testing.T) { f(t, uring.Syscalls{}) })
}

func newRing(t *testing.T, entries uint32) *uring.Ring {
	t.Helper()
	r, err := uring.New(entries)
	if err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pair returns the descriptor of the server end of a loopback TCP
// connection (non-blocking, as Go leaves it) and the client end.
func pair(t *testing.T) (int, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	f, err := s.(*net.TCPConn).File() // a dup, left blocking by File
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fd := int(f.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	return fd, c
}

func TestSendBatch(t *testing.T) {
	tests := []struct {
		name    string
		entries uint32
		conns   int
		size    int
	}{
		{"one", 8, 1, 10},
		{"a classroom", 64, 30, 300},
		{"more than the ring holds", 4, 11, 1000},
		{"empty buffers", 8, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forBatchers(t, tt.entries, func(t *testing.T, r uring.Batcher) {
				ops := make([]uring.Op, tt.conns)
				peers := make([]net.Conn, tt.conns)
				for i := range ops {
					fd, c := pair(t)
					peers[i] = c
					ops[i] = uring.Op{FD: fd, Buf: bytes.Repeat([]byte{byte('a' + i%26)}, tt.size)}
				}
				for round := 0; round < 3; round++ { // the ring is reusable
					if err := r.Do(ops); err != nil {
						t.Fatal(err)
					}
					for i, op := range ops {
						if op.Err != nil || op.N != tt.size {
							t.Fatalf("round %d op %d: n=%d err=%v, want %d bytes", round, i, op.N, op.Err, tt.size)
						}
						got := make([]byte, tt.size)
						peers[i].SetReadDeadline(time.Now().Add(5 * time.Second))
						if _, err := io.ReadFull(peers[i], got); err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, op.Buf) {
							t.Fatalf("op %d: peer got other bytes", i)
						}
					}
				}
			})
		})
	}
}

// TestSendErrors: a bad descriptor and a socket that cannot take
// everything report per op, like write(2); the other ops still complete.
func TestSendErrors(t *testing.T) { forBatchers(t, 8, testSendErrors) }

func testSendErrors(t *testing.T, r uring.Batcher) {
	fdOK, peerOK := pair(t)
	fdFull, _ := pair(t) // nobody reads: its buffers fill
	big := make([]byte, 64<<20)
	ops := []uring.Op{{FD: fdOK, Buf: []byte("hello")}, {FD: -1, Buf: []byte("x")}, {FD: fdFull, Buf: big}}
	if err := r.Do(ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].Err != nil || ops[0].N != 5 {
		t.Errorf("good socket: n=%d err=%v", ops[0].N, ops[0].Err)
	}
	if !errors.Is(ops[1].Err, syscall.EBADF) {
		t.Errorf("bad descriptor: err=%v, want EBADF", ops[1].Err)
	}
	if ops[2].Err != nil || ops[2].N <= 0 || ops[2].N >= len(big) {
		t.Errorf("full socket: n=%d err=%v, want a short send", ops[2].N, ops[2].Err)
	}
	// Send again until the socket takes nothing more: that send reports
	// EAGAIN, not an error of the batch. Loopback TCP may still move
	// queued bytes to the unread peer after a short send (its receive
	// buffer grows), so a few more short sends may come first.
	const attempts = 50
	for i := 0; ; i++ {
		ops = []uring.Op{{FD: fdFull, Buf: big}}
		if err := r.Do(ops); err != nil {
			t.Fatal(err)
		}
		if errors.Is(ops[0].Err, syscall.EAGAIN) {
			break
		}
		if ops[0].Err != nil || ops[0].N <= 0 || ops[0].N >= len(big) {
			t.Fatalf("send %d to the full socket: n=%d err=%v, want EAGAIN or a short send", i, ops[0].N, ops[0].Err)
		}
		if i == attempts {
			t.Fatalf("socket still taking bytes after %d sends (last n=%d), want EAGAIN", attempts, ops[0].N)
		}
		time.Sleep(time.Millisecond)
	}
	got := make([]byte, 5)
	peerOK.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peerOK, got); err != nil || string(got) != "hello" {
		t.Fatalf("good peer got %q, %v", got, err)
	}
}

// BenchmarkSend30 is one message to a 30-member room: 30 write(2) calls,
// or one submission. ns/send is per member.
func BenchmarkSend30(b *testing.B) {
	for _, mode := range []string{"write", "uring"} {
		b.Run(mode, func(b *testing.B) {
			r, err := uring.New(64)
			if err != nil {
				b.Skip(err)
			}
			defer r.Close()
			ops := make([]uring.Op, 30)
			for i := range ops {
				ln, _ := net.Listen("tcp", "127.0.0.1:0")
				c, _ := net.Dial("tcp", ln.Addr().String())
				s, _ := ln.Accept()
				ln.Close()
				defer c.Close()
				defer s.Close()
				go io.Copy(io.Discard, c)
				f, _ := s.(*net.TCPConn).File()
				defer f.Close()
				syscall.SetNonblock(int(f.Fd()), true)
				ops[i] = uring.Op{FD: int(f.Fd()), Buf: make([]byte, 200)}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "write" {
					for _, op := range ops {
						syscall.Write(op.FD, op.Buf)
					}
				} else if err := r.Do(ops); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ops)), "ns/send")
		})
	}
}

// TestRecv: receives fill each buffer with what its socket had, report
// EAGAIN for a socket with nothing and 0 bytes for a peer that closed.
func TestRecv(t *testing.T) { forBatchers(t, 8, testRecv) }

func testRecv(t *testing.T, r uring.Batcher) {
	fdData, peerData := pair(t)
	fdEmpty, _ := pair(t)
	fdEOF, peerEOF := pair(t)
	if _, err := peerData.Write([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	peerEOF.Close()
	time.Sleep(50 * time.Millisecond) // let loopback deliver both
	ops := []uring.Op{
		{FD: fdData, Buf: make([]byte, 64), Recv: true},
		{FD: fdEmpty, Buf: make([]byte, 64), Recv: true},
		{FD: fdEOF, Buf: make([]byte, 64), Recv: true},
	}
	if err := r.Do(ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].Err != nil || string(ops[0].Buf[:ops[0].N]) != "frame" {
		t.Errorf("socket with data: %q, %v", ops[0].Buf[:ops[0].N], ops[0].Err)
	}
	if !errors.Is(ops[1].Err, syscall.EAGAIN) {
		t.Errorf("empty socket: n=%d err=%v, want EAGAIN", ops[1].N, ops[1].Err)
	}
	if ops[2].Err != nil || ops[2].N != 0 {
		t.Errorf("closed peer: n=%d err=%v, want EOF (0, nil)", ops[2].N, ops[2].Err)
	}
}
