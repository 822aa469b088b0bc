package host

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSnapshotFileSealed: the snapshot file cannot change size, nor (where
// the kernel allows write-sealed files to be mapped privately) content,
// and instances' writes never reach it.
func TestSnapshotFileSealed(t *testing.T) {
	h := newHost(t, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
	v := h.gen.entries["chat"].stable
	s := v.snap
	if s == nil || s.file == nil {
		t.Fatal("no snapshot file on Linux")
	}
	seals, err := unix.FcntlInt(uintptr(s.file.fd), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	if seals&(unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL) != unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL {
		t.Fatalf("seals %#x lack shrink, grow or seal", seals)
	}
	if err := syscall.Ftruncate(s.file.fd, 0); err == nil {
		t.Fatal("the snapshot file could be truncated")
	}
	if seals&unix.F_SEAL_WRITE != 0 {
		if _, err := syscall.Pwrite(s.file.fd, []byte("x"), 0); err == nil {
			t.Fatal("the write-sealed snapshot file took a write")
		}
	}
	// An instance writing its (mapped) memory leaves the file as it was.
	in := v.pool.idleInstances()[0]
	if in.lin == nil || in.lin.file != s.file {
		t.Fatal("the instance is not mapped from the snapshot file")
	}
	before := s.mem[100]
	if !in.mod.Memory().WriteByte(100, before+1) {
		t.Fatal("write")
	}
	if s.mem[100] != before {
		t.Fatal("an instance's write reached the snapshot file")
	}
	if !in.reset() {
		t.Fatal("reset")
	}
}
