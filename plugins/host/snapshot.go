package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/tetratelabs/wazero/api"
)

// Resetting an instance to its state right after cg_init (the isolation
// contract, ABI.md §2) is done by copying back its linear memory and its
// mutable globals, which is about twenty times cheaper than instantiating
// again (BenchmarkRoomSwitch). WebAssembly exposes only exported globals to
// the host, so the module's bytes are rewritten at load to also export
// every mutable global it defines, as "cg.global.<index>". A module whose
// globals cannot all be restored that way (v128 or reference-typed mutable
// globals, a global section this parser does not understand) is served
// without snapshots: every reset instantiates it again.

// globalExportPrefix names the exports added by exportGlobals.
const globalExportPrefix = "cg.global."

var errNoSnapshot = errors.New("module globals cannot be snapshotted")

// exportGlobals returns b with an export added for each mutable global the
// module defines, and the names of those exports.
func exportGlobals(b []byte) ([]byte, []string, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, nil, fmt.Errorf("%w: not a wasm binary", errNoSnapshot)
	}
	type section struct {
		id         byte
		start, end int // payload
	}
	var secs []section
	for p := 8; p < len(b); {
		id := b[p]
		size, n, err := uleb(b, p+1)
		if err != nil {
			return nil, nil, err
		}
		start := p + 1 + n
		end := start + int(size)
		if end > len(b) || end < start {
			return nil, nil, fmt.Errorf("%w: section %d overruns the module", errNoSnapshot, id)
		}
		secs = append(secs, section{id, start, end})
		p = end
	}
	importedGlobals := 0
	var mutable []int // indices of the module's own mutable globals
	exportSec := -1
	for i, s := range secs {
		switch s.id {
		case 2:
			n, err := countImportedGlobals(b[s.start:s.end])
			if err != nil {
				return nil, nil, err
			}
			importedGlobals = n
		case 6:
			m, err := mutableGlobals(b[s.start:s.end])
			if err != nil {
				return nil, nil, err
			}
			for _, idx := range m {
				mutable = append(mutable, importedGlobals+idx)
			}
		case 7:
			exportSec = i
		}
	}
	if exportSec < 0 {
		return nil, nil, fmt.Errorf("%w: no export section", errNoSnapshot)
	}
	s := secs[exportSec]
	count, n, err := uleb(b, s.start)
	if err != nil {
		return nil, nil, err
	}
	entries := b[s.start+n : s.end]
	names := make([]string, len(mutable))
	var add []byte
	for i, idx := range mutable {
		names[i] = globalExportPrefix + strconv.Itoa(idx)
		add = binary.AppendUvarint(add, uint64(len(names[i])))
		add = append(add, names[i]...)
		add = append(add, 0x03) // global
		add = binary.AppendUvarint(add, uint64(idx))
	}
	payload := binary.AppendUvarint(nil, uint64(count)+uint64(len(mutable)))
	payload = append(payload, entries...)
	payload = append(payload, add...)
	return splice(b, s.start, s.end, payload, make([]byte, 0, len(b)+len(add)+8)), names, nil
}

// splice replaces the section whose payload is b[start:end] by payload,
// rewriting its size.
func splice(b []byte, start, end int, payload, out []byte) []byte {
	// The section header is the id byte then the size LEB that ends at
	// start; find where it begins by walking back over continuation bytes.
	h := start - 1
	for h > 0 && b[h-1]&0x80 != 0 {
		h--
	}
	// b[h-1] is the id byte.
	out = append(out, b[:h]...)
	out = binary.AppendUvarint(out, uint64(len(payload)))
	out = append(out, payload...)
	return append(out, b[end:]...)
}

// uleb reads an unsigned LEB128 at b[p:], returning it and its length.
func uleb(b []byte, p int) (uint64, int, error) {
	var v uint64
	for i := 0; i < 10 && p+i < len(b); i++ {
		c := b[p+i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: bad LEB128 at %d", errNoSnapshot, p)
}

// reader walks a section payload.
type reader struct {
	b   []byte
	p   int
	err error
}

func (r *reader) u() uint64 {
	if r.err != nil {
		return 0
	}
	v, n, err := uleb(r.b, r.p)
	r.p += n
	r.err = err
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || r.p >= len(r.b) {
		r.err = fmt.Errorf("%w: truncated section", errNoSnapshot)
		return 0
	}
	r.p++
	return r.b[r.p-1]
}

func (r *reader) skip(n uint64) {
	if r.err != nil || uint64(len(r.b)-r.p) < n {
		r.err = fmt.Errorf("%w: truncated section", errNoSnapshot)
		return
	}
	r.p += int(n)
}

func (r *reader) limits() {
	flags := r.byte()
	r.u()
	if flags&1 != 0 {
		r.u()
	}
}

// countImportedGlobals counts the globals an import section imports.
func countImportedGlobals(sec []byte) (int, error) {
	r := &reader{b: sec}
	n := 0
	for i, count := uint64(0), r.u(); i < count && r.err == nil; i++ {
		r.skip(r.u()) // module
		r.skip(r.u()) // name
		switch kind := r.byte(); kind {
		case 0: // func
			r.u()
		case 1: // table
			r.byte()
			r.limits()
		case 2: // memory
			r.limits()
		case 3: // global
			r.byte()
			r.byte()
			n++
		case 4: // tag
			r.byte()
			r.u()
		default:
			return 0, fmt.Errorf("%w: import kind %d", errNoSnapshot, kind)
		}
	}
	return n, r.err
}

// mutableGlobals lists the section-relative indices of the mutable globals
// of a global section; it fails on mutable globals it cannot restore.
func mutableGlobals(sec []byte) ([]int, error) {
	r := &reader{b: sec}
	var out []int
	for i, count := 0, r.u(); uint64(i) < count && r.err == nil; i++ {
		typ := r.byte()
		mut := r.byte()
		if mut == 1 {
			switch typ {
			case 0x7f, 0x7e, 0x7d, 0x7c: // i32 i64 f32 f64
				out = append(out, i)
			default:
				return nil, fmt.Errorf("%w: mutable global %d of type 0x%x", errNoSnapshot, i, typ)
			}
		}
		if err := skipConstExpr(r); err != nil {
			return nil, err
		}
	}
	return out, r.err
}

// skipConstExpr skips a constant expression up to its end opcode.
func skipConstExpr(r *reader) error {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			r.u() // a signed LEB skips like an unsigned one
		case 0x43:
			r.skip(4)
		case 0x44:
			r.skip(8)
		case 0xd0: // ref.null
			r.byte()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		case 0xfd: // v128.const
			if r.u() != 12 {
				return fmt.Errorf("%w: constant expression opcode 0xfd", errNoSnapshot)
			}
			r.skip(16)
		default:
			return fmt.Errorf("%w: constant expression opcode 0x%x", errNoSnapshot, op)
		}
	}
	return r.err
}

// snapshot is an instance's state right after cg_init: its linear memory,
// its mutable globals, and the input buffer cg_alloc gave the host. On
// Linux the memory is held in a sealed memfd (file) that instances map
// privately, and mem is a read-only view of it; elsewhere, or when that
// fails, mem is a copy on the Go heap and file is nil.
type snapshot struct {
	mem                  []byte
	file                 *snapFile
	globals              []uint64
	buf, bufCap, bufUsed uint32
}

// takeSnapshot copies a fresh instance's state.
func takeSnapshot(in *instance) (*snapshot, bool) {
	mem := in.mod.Memory()
	view, ok := mem.Read(0, mem.Size())
	if !ok {
		return nil, false
	}
	s := &snapshot{buf: in.buf, bufCap: in.bufCap, bufUsed: in.bufUsed}
	if f, err := newSnapFile(view); err == nil {
		s.file, s.mem = f, f.view
		// The file and its view go when the last instance made from the
		// snapshot, and the variant, let go of it; mappings made from it
		// stay valid on their own.
		runtime.AddCleanup(s, func(f *snapFile) { f.close() }, f)
	} else {
		s.mem = append([]byte(nil), view...)
	}
	for _, g := range in.globals {
		s.globals = append(s.globals, g.Get())
	}
	return s, true
}

// memoryUse returns the instance's linear memory size and how many of its
// pages it has written since it was mapped from its snapshot (-1: not
// known).
func (in *instance) memoryUse() (size uint32, written int) {
	mem := in.mod.Memory()
	if mem == nil {
		return 0, -1
	}
	size = mem.Size()
	if in.lin == nil || in.snap == nil || in.lin.file != in.snap.file {
		return size, -1
	}
	view, ok := mem.Read(0, size)
	if !ok {
		return size, -1
	}
	n, err := in.lin.writtenPages(view)
	if err != nil {
		return size, -1
	}
	return size, n
}

// resetStats counts what resets did, for benchmarks and tests.
type resetStats struct {
	mapped, copiedPages, full int
}

// reset puts in back into the state of its module's snapshot: as if it had
// just been instantiated and initialised, bound to no room. It reports
// false when that cannot be done (no snapshot, or memory grew since), and
// the caller instantiates anew.
//
// The memory is put back in the cheapest way that restores every byte:
// an instance whose memory is a private mapping of the snapshot file gets
// back only the pages it wrote (restoreDirty); one that wrote many, or
// whose memory is not mapped from the file yet, gets the file mapped
// afresh; without a file, the whole memory is copied.
func (in *instance) reset() bool {
	s := in.snap
	if s == nil {
		return false
	}
	mem := in.mod.Memory()
	if mem.Size() != uint32(len(s.mem)) {
		return false
	}
	view, ok := mem.Read(0, mem.Size())
	if !ok {
		return false
	}
	switch {
	case s.file == nil || in.lin == nil:
		copy(view, s.mem)
		in.resets.full++
	default:
		if n, err := in.lin.restoreDirty(s.file, view); err == nil {
			in.resets.copiedPages += n
			break
		}
		if err := in.lin.mapFile(s.file); err != nil {
			return false // the memory may be unmapped: replace the instance
		}
		in.resets.mapped++
	}
	for i, g := range in.globals {
		g.Set(s.globals[i])
	}
	in.buf, in.bufCap, in.bufUsed = s.buf, s.bufCap, s.bufUsed
	in.room, in.ended = "", false
	return true
}

// mutableGlobalsOf resolves the globals exportGlobals exported.
func mutableGlobalsOf(mod api.Module, names []string) ([]api.MutableGlobal, bool) {
	out := make([]api.MutableGlobal, 0, len(names))
	for _, n := range names {
		g, ok := mod.ExportedGlobal(n).(api.MutableGlobal)
		if !ok {
			return nil, false
		}
		out = append(out, g)
	}
	return out, true
}
