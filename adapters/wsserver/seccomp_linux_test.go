package wsserver_test

import (
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/classgate/classgate/adapters/wsserver"
)

// seccompChild marks the re-executed test binary that installs the filter.
const seccompChild = "CLASSGATE_TEST_SECCOMP_CHILD"

// TestRingSeccomp is the real fault: after the server set up its rings, a
// seccomp filter (as a container profile would) makes io_uring_enter(2)
// fail with EPERM for the whole process. Every member still receives
// every frame over real WebSocket connections, nobody is closed, and
// io_uring is switched off with one log line. The filter cannot be
// removed, so the test runs in a child process of its own.
func TestRingSeccomp(t *testing.T) {
	if os.Getenv(seccompChild) == "" {
		if testing.Short() {
			t.Skip("re-runs the test binary")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRingSeccomp$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), seccompChild+"=1")
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "--- SKIP") {
			t.Skipf("child skipped:\n%s", out)
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestRingSeccomp") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	logs := &lockedBuf{}
	var slow atomic.Int64
	g := start(t, cfg{ws: wsserver.Options{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Observer: slowFunc(func() { slow.Add(1) }),
	}})
	if !g.srv.IOUring() {
		t.Skip("io_uring is not available on this kernel")
	}
	denyIOUringEnter(t)
	fanOut(t, g, 7, 2*wsserver.RingFaultLimit+2)
	checkAfterFaults(t, g, logs, &slow, true)
}

// denyIOUringEnter installs, on every thread of the process, a seccomp
// filter under which io_uring_enter(2) fails with EPERM.
func denyIOUringEnter(t *testing.T) {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = 0xc000003e // AUDIT_ARCH_X86_64
	case "arm64":
		arch = 0xc00000b7 // AUDIT_ARCH_AARCH64
	default:
		t.Skipf("no seccomp filter written for %s", runtime.GOARCH)
	}
	const (
		ldAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
		sysNr  = 426 // io_uring_enter on both architectures
		allow  = 0x7fff0000
		errnoR = 0x00050000 // SECCOMP_RET_ERRNO
	)
	prog := []unix.SockFilter{
		{Code: ldAbs, K: 4},                 // seccomp_data.arch
		{Code: jeq, K: arch, Jt: 0, Jf: 3},  // other ABI: allow
		{Code: ldAbs, K: 0},                 // seccomp_data.nr
		{Code: jeq, K: sysNr, Jt: 0, Jf: 1}, // not io_uring_enter: allow
		{Code: ret, K: errnoR | uint32(syscall.EPERM)},
		{Code: ret, K: allow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		t.Fatalf("seccomp: %v", e)
	}
}
