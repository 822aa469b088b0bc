package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// System call numbers (x86-64, arm64 and the other generic tables agree).
const (
	sysSetup    = 425
	sysEnter    = 426
	sysRegister = 427
)

// ABI constants from <linux/io_uring.h>.
const (
	offSQRing     = 0
	offCQRing     = 0x8000000
	offSQEs       = 0x10000000
	opSend        = 26
	opRecv        = 27
	enterGetEvent = 1 << 0
	registerProbe = 8      // IORING_REGISTER_PROBE (Linux 5.6)
	probeOps      = 256    // struct io_uring_probe_op entries asked for
	opSupported   = 1 << 0 // IO_URING_OP_SUPPORTED
	sqeSize       = 64
	cqeSize       = 16
)

type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sq                                                                     sqRingOffsets
	cq                                                                     cqRingOffsets
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	msgFlags uint32
	userData uint64
	bufIndex uint16
	persona  uint16
	fileIdx  int32
	addr3    uint64
	pad      uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is one io_uring instance. It is not safe for concurrent use.
type Ring struct {
	fd      int
	entries uint32

	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        []uint32
	sqes           []sqe
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe

	maps   [][]byte // to unmap on Close
	broken bool
}

// New sets up a ring for batches of up to entries sends (a power of two
// is used; larger batches are split). It asks the kernel which operations
// it supports (IORING_REGISTER_PROBE) and fails unless both IORING_OP_SEND
// and IORING_OP_RECV are there: a kernel that can set up a ring but not
// send on it (before 5.6) is refused here, not at the first batch.
func New(entries uint32) (*Ring, error) {
	var p params
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("uring: io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries}
	mmap := func(off int64, size uint32) ([]byte, error) {
		b, err := syscall.Mmap(r.fd, off, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("uring: mmap ring: %w", err)
		}
		r.maps = append(r.maps, b)
		return b, nil
	}
	sq, err := mmap(offSQRing, p.sq.array+p.sqEntries*4)
	if err == nil {
		var cq, sqes []byte
		if cq, err = mmap(offCQRing, p.cq.cqes+p.cqEntries*cqeSize); err == nil {
			if sqes, err = mmap(offSQEs, p.sqEntries*sqeSize); err == nil {
				r.sqHead = (*uint32)(unsafe.Pointer(&sq[p.sq.head]))
				r.sqTail = (*uint32)(unsafe.Pointer(&sq[p.sq.tail]))
				r.sqMask = *(*uint32)(unsafe.Pointer(&sq[p.sq.ringMask]))
				r.sqArray = unsafe.Slice((*uint32)(unsafe.Pointer(&sq[p.sq.array])), p.sqEntries)
				r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqes[0])), p.sqEntries)
				r.cqHead = (*uint32)(unsafe.Pointer(&cq[p.cq.head]))
				r.cqTail = (*uint32)(unsafe.Pointer(&cq[p.cq.tail]))
				r.cqMask = *(*uint32)(unsafe.Pointer(&cq[p.cq.ringMask]))
				r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&cq[p.cq.cqes])), p.cqEntries)
			}
		}
	}
	if err == nil {
		err = r.probe()
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// probe checks that the kernel supports the operations Do submits.
func (r *Ring) probe() error {
	// struct io_uring_probe: last_op, ops_len, resv, resv2[3], then
	// probeOps struct io_uring_probe_op of 8 bytes (op, resv, flags, resv2).
	var buf [16 + probeOps*8]byte
	_, _, errno := syscall.Syscall6(sysRegister, uintptr(r.fd), registerProbe, uintptr(unsafe.Pointer(&buf[0])), probeOps, 0, 0)
	if errno != 0 {
		return fmt.Errorf("uring: probe supported operations: %w", errno)
	}
	return probed(buf[:])
}

// probed reads a filled struct io_uring_probe and reports the first
// operation Do needs that the kernel lacks.
func probed(buf []byte) error {
	lastOp, opsLen := int(buf[0]), int(buf[1])
	for _, op := range []struct {
		code int
		name string
	}{{opSend, "IORING_OP_SEND"}, {opRecv, "IORING_OP_RECV"}} {
		off := 16 + op.code*8
		if op.code > lastOp || op.code >= opsLen || off+4 > len(buf) {
			return fmt.Errorf("uring: kernel does not support %s (last operation %d)", op.name, lastOp)
		}
		if flags := uint16(buf[off+2]) | uint16(buf[off+3])<<8; flags&opSupported == 0 {
			return fmt.Errorf("uring: kernel does not support %s", op.name)
		}
	}
	return nil
}

// Close releases the ring.
func (r *Ring) Close() error {
	for _, b := range r.maps {
		_ = syscall.Munmap(b)
	}
	r.maps = nil
	if r.fd >= 0 {
		err := syscall.Close(r.fd)
		r.fd = -1
		if err != nil {
			return fmt.Errorf("uring: close: %w", err)
		}
	}
	return nil
}

// Do runs every op — a send of ops[i].Buf on ops[i].FD, or a receive
// into it — without waiting for any socket, and returns when all have
// completed: each op's N and Err are set as a non-blocking write(2) or
// read(2) would set them (Err is EAGAIN when the socket had no room or
// no data; a receive of 0 bytes with no error is the peer's EOF). The
// buffers are not used after Do returns.
//
// An error means the ring failed (not a socket): ops without a result
// were not sent and have Err set to it (errors.Is(op.Err, err)), ops with
// one keep it, and the ring must not be used again. Callers send the ops
// without a result another way.
func (r *Ring) Do(ops []Op) error {
	for i := range ops { // ops may be reused: no result is left from before
		ops[i].done, ops[i].N, ops[i].Err = false, 0, nil
	}
	if r.broken {
		for i := range ops {
			ops[i].Err = errBroken
		}
		return errBroken
	}
	for len(ops) > 0 {
		n := min(len(ops), int(r.entries))
		if err := r.send(ops[:n]); err != nil {
			r.broken = true
			// A send the kernel took completes during the submission
			// (MSG_DONTWAIT), so its result is in the completion queue
			// even if a later io_uring_enter failed: record it, and only
			// the ops the kernel never took are left without one.
			r.reap(ops[:n])
			for i := range ops {
				if !ops[i].done {
					ops[i].Err = err
				}
			}
			return err
		}
		ops = ops[n:]
	}
	return nil
}

var errBroken = errors.New("uring: ring failed earlier")

// Broken reports whether the ring failed and must be closed.
func (r *Ring) Broken() bool { return r.broken }

func (r *Ring) send(ops []Op) error {
	tail := atomic.LoadUint32(r.sqTail)
	for i := range ops {
		op := &ops[i]
		op.done, op.N, op.Err = false, 0, nil
		idx := (tail + uint32(i)) & r.sqMask
		e := &r.sqes[idx]
		// MSG_DONTWAIT makes a socket that is full (or empty) complete
		// with EAGAIN instead of the kernel arming a poll and finishing
		// the operation later.
		*e = sqe{opcode: opSend, fd: int32(op.FD), len: uint32(len(op.Buf)), msgFlags: syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL, userData: uint64(i)}
		if op.Recv {
			e.opcode, e.msgFlags = opRecv, syscall.MSG_DONTWAIT
		}
		if len(op.Buf) > 0 {
			e.addr = uint64(uintptr(unsafe.Pointer(&op.Buf[0])))
		}
		r.sqArray[idx] = idx
	}
	atomic.StoreUint32(r.sqTail, tail+uint32(len(ops)))

	toSubmit, left := len(ops), len(ops)
	for left > 0 {
		m, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(left), enterGetEvent, 0, 0)
		switch errno {
		case 0:
			toSubmit -= int(m)
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Interrupted, or the kernel is short of resources: what was
			// submitted stays submitted (the SQ head tells how much).
			toSubmit = len(ops) - int(atomic.LoadUint32(r.sqHead)-tail)
		default:
			return fmt.Errorf("uring: io_uring_enter: %w", errno)
		}
		left -= r.reap(ops)
		if toSubmit < 0 || left < 0 {
			return fmt.Errorf("uring: ring out of step (%d to submit, %d left)", toSubmit, left)
		}
	}
	return nil
}

// reap records the completions available and returns how many there were.
func (r *Ring) reap(ops []Op) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := r.cqes[head&r.cqMask]
		if c.userData < uint64(len(ops)) {
			op := &ops[c.userData]
			op.done = true
			if c.res >= 0 {
				op.N = int(c.res)
			} else {
				op.Err = syscall.Errno(-c.res)
			}
			n++
		}
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}
