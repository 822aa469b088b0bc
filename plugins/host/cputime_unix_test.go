//go:build unix

package host

import (
	"runtime"
	"syscall"
	"time"
)

// threadCPU is the CPU time (user + system) the calling thread has used,
// where the system can tell (Linux), else the whole process's: a measure of
// work that, unlike wall time, a machine shared with other loads does not
// inflate much. Callers lock their goroutine to its thread (lockThread).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lockThread keeps the benchmark on one thread so threadCPU measures it;
// the returned function undoes it.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
