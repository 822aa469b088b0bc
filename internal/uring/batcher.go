package uring

import "syscall"

// Batcher runs a batch of ops — sends (or receives) on many sockets,
// none of them waiting for its socket — with the result of each in its
// N and Err, as a non-blocking write(2) or read(2) would set them. It has
// two implementations: *Ring, one io_uring submission for the batch, and
// Syscalls, one system call per op. Callers use a Ring where New
// succeeds and Syscalls where it fails or the ring broke.
//
// A Batcher's error means the batcher failed, not a socket: ops without a
// result carry it, and the caller sends them another way (see Ring.Do).
// Syscalls never fails.
type Batcher interface {
	Do(ops []Op) error
}

var (
	_ Batcher = (*Ring)(nil)
	_ Batcher = Syscalls{}
)

// Syscalls is the Batcher without io_uring: one write(2) (or read(2)) per
// op, on descriptors the caller made non-blocking (Go's are).
type Syscalls struct{}

// Do runs every op with its own system call; it never fails as a whole.
func (Syscalls) Do(ops []Op) error {
	for i := range ops {
		op := &ops[i]
		var n int
		var err error
		if op.Recv {
			n, err = syscall.Read(op.FD, op.Buf)
		} else {
			n, err = syscall.Write(op.FD, op.Buf)
		}
		op.N, op.Err, op.done = max(n, 0), err, true
	}
	return nil
}
