package wsserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// wakeProbe measures how late the Go runtime wakes a goroutine whose
// socket has become readable: the delay a client's frame spends unread
// while its connection's reader, parked, waits to be run.
//
// On a node short of CPU that delay is where frames wait (docs/PERFORMANCE.md,
// "Overload policy"): the network poller hands ready readers to the global
// run queue, which processors busy with handed-off work serve seldom, and
// the reader, which times its own read, cannot tell a long wake-up from an
// empty socket. The probe is a socket pair read and written like a client
// connection: every interval a goroutine writes the time, another reads it;
// the difference at each read is the lateness of that wake-up.
type wakeProbe struct {
	interval time.Duration
	r, w     net.Conn
	late     atomic.Int64 // ns: the lateness of the last read
	lastRead atomic.Int64 // probeClock of the last read
	// ended: the probe stopped (the server's stop, or a failed write or
	// read); lateness is then 0, never a stale or growing figure.
	ended atomic.Bool
}

// probeEpoch and probeClock: the probe's stamps are nanoseconds of the
// monotonic clock since the process's first use of the probe, so a step of
// the wall clock (NTP) is never taken for a late or early wake-up.
var probeEpoch = time.Now()

func probeClock(t time.Time) int64 { return int64(t.Sub(probeEpoch)) }

// wakeProbeInterval is how often the probe's writer writes: 100 wake-ups
// a second, a few microseconds of CPU each.
const wakeProbeInterval = 10 * time.Millisecond

// startWakeProbe starts a probe that writes every interval until stop is
// closed.
func startWakeProbe(interval time.Duration, stop <-chan struct{}) (*wakeProbe, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("wake probe: socketpair: %w", err)
	}
	r, err := fileConn(fds[0])
	if err != nil {
		syscall.Close(fds[1])
		return nil, err
	}
	w, err := fileConn(fds[1])
	if err != nil {
		r.Close()
		return nil, err
	}
	p := &wakeProbe{interval: interval, r: r, w: w}
	p.lastRead.Store(probeClock(time.Now()))
	go p.write(stop)
	go p.read()
	return p, nil
}

// fileConn makes fd a net.Conn served by the runtime's network poller, as
// a client connection is, and closes fd (the conn holds a duplicate).
func fileConn(fd int) (net.Conn, error) {
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "wake-probe")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("wake probe: %w", err)
	}
	return c, nil
}

func (p *wakeProbe) write(stop <-chan struct{}) {
	defer p.ended.Store(true)
	defer p.w.Close() // the reader then ends on EOF
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var b [8]byte
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		binary.LittleEndian.PutUint64(b[:], uint64(probeClock(time.Now())))
		if _, err := p.w.Write(b[:]); err != nil {
			return
		}
	}
}

func (p *wakeProbe) read() {
	defer p.ended.Store(true)
	defer p.r.Close()
	buf := make([]byte, 4096) // 512 stamps: 5 s of writes at 10 ms
	have := 0
	for {
		n, err := p.r.Read(buf[have:])
		if err != nil {
			return
		}
		now := probeClock(time.Now())
		have += n
		if have >= 8 {
			// The oldest stamp read: written when the data the reader
			// was woken for became ready.
			p.sample(now, int64(binary.LittleEndian.Uint64(buf[:8])))
		}
		k := have / 8 * 8
		have = copy(buf, buf[k:have])
	}
}

// sample records a read at now of a stamp written at written (probeClock):
// the lateness of this wake-up. (Keeping the larger of it and the last
// figure less the time since, so that one on-time wake-up does not clear
// a late one at once, was tried: pinned to one core at 4,200 msg/s p99
// 453 and 491 against 587 and 604 ms, but unpinned at 3,000 msg/s 149
// and 201 against 114 and 112 ms, two pairs each.)
func (p *wakeProbe) sample(now, written int64) {
	p.late.Store(max(now-written, 0))
	p.lastRead.Store(now)
}

// lateness is how late, at now, the runtime wakes a reader whose socket is
// ready: the last wake-up's, or more if the probe's reader has itself been
// waiting longer than an interval since its last read. 0 without a probe
// or once it ended.
func (p *wakeProbe) lateness(now time.Time) time.Duration {
	if p == nil || p.ended.Load() {
		return 0
	}
	late := p.late.Load()
	if waiting := probeClock(now) - p.lastRead.Load() - 2*int64(p.interval); waiting > late {
		late = waiting
	}
	return time.Duration(late)
}
