package main

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// syscallCost is the calling thread's CPU time per getppid over calls
// calls, in nanoseconds; ok is false if the thread's clock could not be
// read.
func syscallCost(calls int) (ns float64, ok bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var a, b unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &a) != nil {
		return 0, false
	}
	for range calls {
		unix.Getppid()
	}
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &b) != nil {
		return 0, false
	}
	return float64(b.Nano()-a.Nano()) / float64(calls), true
}
