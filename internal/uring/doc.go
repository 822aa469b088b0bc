// Package uring sends (or receives) one batch of buffers on many sockets
// with a single system call, using Linux's io_uring.
//
// The gateway's fan-out writes the same frame to every member of a room:
// thirty write(2) calls for one chat message in a 30-seat classroom. On a
// virtual machine, where entering the kernel is expensive, those entries
// and exits are a large part of the gateway's CPU. A Ring takes the
// whole batch in one io_uring_enter(2) and returns when every send has
// completed, so buffers and descriptors are only in the kernel's hands
// for the duration of the call — the caller's ownership rules stay those
// of a plain write.
//
// Every operation completes at once, with the bytes the socket took or
// gave (possibly fewer than asked) or EAGAIN, exactly as a non-blocking
// write(2) or read(2) would. The gateway sends with it; loadgen receives
// with it, to keep its own share of the machine it measures on small. The package has no goroutines, no
// registered files or buffers, and no kernel polling thread.
//
// New fails on kernels without io_uring, where it is disabled
// (/proc/sys/kernel/io_uring_disabled) or filtered by seccomp, and on
// other systems; callers then keep writing one socket at a time. Both
// ways are a Batcher: a *Ring, or Syscalls (a write(2) or read(2) per
// op), with the same results per op, so a caller has one code path and
// picks the implementation.
package uring
