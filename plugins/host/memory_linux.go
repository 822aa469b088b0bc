package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// Guest linear memory lives outside the Go heap, in an anonymous mapping
// of the instance's maximum size (memory_pages) reserved at instantiation;
// the kernel backs pages only when the guest first touches them, and
// growing is a change of length, never a copy. With wazero's default the
// memory is a Go slice: every memory.grow allocates a bigger slice and
// copies (tens of megabytes of garbage during a burst of joins), and the
// live memories count towards the Go heap goal, so the garbage collector
// lets the process hold about twice their size. Closing an instance
// returns its pages to the system at once.
//
// Snapshots (snapshot.go) live in a sealed memfd. An instance made or reset
// from a snapshot maps it privately over the start of its reservation
// (copy-on-write, the way Wasmtime's pooling allocator resets instances):
// the pages it never writes are the page cache's, shared by every instance
// of the module, and a reset puts back only the pages it wrote, found in
// /proc/self/pagemap (BenchmarkReset).
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(mmapMemory)

type mappedMemory struct {
	buf []byte
	// file is the snapshot mapped privately over buf[:len(file.view)], nil
	// while the memory is anonymous.
	file *snapFile
	pm   []byte // pagemap entries, reused
}

func mmapMemory(_, max uint64) experimental.LinearMemory {
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{max: max}
	}
	return &mappedMemory{buf: b}
}

// Reallocate implements experimental.LinearMemory; nil beyond the maximum.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// instanceAllocator makes one instance's memory and remembers it, so the
// instance can be reset by mapping (nil m: a heap fallback).
type instanceAllocator struct{ m *mappedMemory }

// Allocate implements experimental.MemoryAllocator.
func (a *instanceAllocator) Allocate(cap, max uint64) experimental.LinearMemory {
	lm := mmapMemory(cap, max)
	if m, ok := lm.(*mappedMemory); ok {
		a.m = m
	}
	return lm
}

// mapFile maps f privately over the start of the memory, in place of what
// was there: the memory then reads as the snapshot, and the private pages
// it had are freed.
func (m *mappedMemory) mapFile(f *snapFile) error {
	n := len(f.view)
	if m.buf == nil || n > len(m.buf) {
		return fmt.Errorf("snapshot of %d bytes does not fit a memory of %d", n, len(m.buf))
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(m.buf)))
	r, _, errno := syscall.Syscall6(syscall.SYS_MMAP, addr, uintptr(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_FIXED|syscall.MAP_NORESERVE, uintptr(f.fd), 0)
	if errno != 0 {
		m.file = nil // the old mapping may be gone: memory is no longer known to hold anything
		return fmt.Errorf("map snapshot: %w", errno)
	}
	if r != addr {
		m.file = nil
		return fmt.Errorf("map snapshot: mapped at %#x, not %#x", r, addr)
	}
	m.file = f
	return nil
}

var errTooDirty = errors.New("too many pages written")

// restoreDirty copies back, from f's view, the pages of mem (the memory's
// first len(f.view) bytes, mapped from f) that the instance has written:
// those no longer backed by the snapshot file. It returns how many.
func (m *mappedMemory) restoreDirty(f *snapFile, mem []byte) (int, error) {
	if m.file != f || len(mem) != len(f.view) {
		return 0, errors.New("memory is not mapped from this snapshot")
	}
	dirty, err := m.writtenPages(mem)
	if err != nil {
		return 0, err
	}
	pages := len(mem) / pageSize
	pm := m.pm[:pages*8]
	if dirty > pages/maxDirtyShare {
		return dirty, errTooDirty
	}
	for i := 0; i < pages && dirty > 0; i++ {
		if pageWritten(binary.LittleEndian.Uint64(pm[i*8:])) {
			copy(mem[i*pageSize:(i+1)*pageSize], f.view[i*pageSize:])
		}
	}
	return dirty, nil
}

// writtenPages reads the pagemap entries of mem's pages into m.pm and
// counts those written since the snapshot file was mapped: the instance's
// private memory.
func (m *mappedMemory) writtenPages(mem []byte) (int, error) {
	pages := len(mem) / pageSize
	if cap(m.pm) < pages*8 {
		m.pm = make([]byte, pages*8)
	}
	pm := m.pm[:pages*8]
	if err := readPagemap(uintptr(unsafe.Pointer(unsafe.SliceData(mem))), pm); err != nil {
		return 0, err
	}
	n := 0
	for i := 0; i < pages; i++ {
		if pageWritten(binary.LittleEndian.Uint64(pm[i*8:])) {
			n++
		}
	}
	return n, nil
}

// Bits of a /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61 // file page or shared anonymous
)

// pageWritten reports whether a page of a private file mapping may differ
// from the file: anything but a page not yet touched (neither present nor
// swapped) or one mapped from the file (present, file). A private copy —
// present or swapped out — is written; so, to be safe, is anything else.
func pageWritten(e uint64) bool {
	switch {
	case e&(pmPresent|pmSwapped) == 0:
		return false
	case e&pmPresent != 0 && e&pmFile != 0:
		return false
	}
	return true
}

var pagemap struct {
	once sync.Once
	f    *os.File
	err  error
}

// readPagemap reads the pagemap entries of the pages from addr on.
func readPagemap(addr uintptr, out []byte) error {
	pagemap.once.Do(func() { pagemap.f, pagemap.err = os.Open("/proc/self/pagemap") })
	if pagemap.err != nil {
		return pagemap.err
	}
	n, err := pagemap.f.ReadAt(out, int64(addr/pageSize*8))
	if n != len(out) {
		return fmt.Errorf("read pagemap: %d of %d bytes: %w", n, len(out), err)
	}
	return nil
}

// snapFile is a snapshot's memory in a sealed memfd, with a read-only
// shared view of it.
type snapFile struct {
	fd   int
	view []byte
}

// newSnapFile writes mem into a new sealed memfd. Its size is sealed, and
// so are writes where the kernel still lets instances map a write-sealed
// file privately and writably (before Linux 6.7 some kernels refuse that;
// the file is then sealed against size changes only — nothing writes to it
// after this function either way).
func newSnapFile(mem []byte) (*snapFile, error) {
	if len(mem) == 0 || len(mem)%pageSize != 0 {
		return nil, fmt.Errorf("snapshot of %d bytes is not whole pages", len(mem))
	}
	f, err := writeSnapFile(mem, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL)
	if err == nil {
		return f, nil
	}
	f, err2 := writeSnapFile(mem, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return f, nil
}

// writeSnapFile makes the memfd with the given seals and checks that it
// can be mapped the way instances map it.
func writeSnapFile(mem []byte, seals int) (*snapFile, error) {
	fd, err := unix.MemfdCreate("classgate-snapshot", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	fail := func(what string, err error) (*snapFile, error) {
		syscall.Close(fd)
		return nil, fmt.Errorf("snapshot file: %s: %w", what, err)
	}
	for off := 0; off < len(mem); {
		n, err := syscall.Pwrite(fd, mem[off:], int64(off))
		if err != nil {
			return fail("write", err)
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return fail("seal", err)
	}
	trial, err := syscall.Mmap(fd, 0, len(mem), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		return fail("private writable mapping", err)
	}
	_ = syscall.Munmap(trial)
	view, err := syscall.Mmap(fd, 0, len(mem), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fail("map", err)
	}
	return &snapFile{fd: fd, view: view}, nil
}

// close releases the file and its view; mappings made from it stay valid.
func (f *snapFile) close() {
	_ = syscall.Munmap(f.view)
	_ = syscall.Close(f.fd)
}
