//go:build wasip1

package sdk

import (
	"runtime/debug"
	"unsafe"
)

// guestGCPercent is the guest's GOGC. Linear memory never shrinks, so
// whatever the guest's heap reaches stays allocated in the host for the
// instance's life. Go's default (100, with a 4 MiB minimum heap goal)
// lets a plugin that allocates per call collect megabytes of garbage
// before its first collection; 25 (1 MiB minimum) keeps an instance near
// its first 4 MiB arena. A plugin's live state is in the host, so guest
// heaps are small and a collection is cheap.
const guestGCPercent = 25

func init() { debug.SetGCPercent(guestGCPercent) }

// All host imports of ABI version 1 (see plugins/abi/ABI.md). Pointers are
// offsets in this module's linear memory; lengths are in bytes.

//go:wasmimport classgate_v1 log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

// resultOKv is the success code of imports that return no length.
const resultOKv int32 = 0

//go:wasmimport classgate_v1 state_get
func hostStateGet(keyPtr unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport classgate_v1 state_list
func hostStateList(prefixPtr unsafe.Pointer, prefixLen uint32, buf unsafe.Pointer, bufCap uint32) int32

//go:wasmimport classgate_v1 state_set
func hostStateSet(keyPtr unsafe.Pointer, keyLen uint32, valPtr unsafe.Pointer, valLen uint32) int32

//go:wasmimport classgate_v1 state_del
func hostStateDel(keyPtr unsafe.Pointer, keyLen uint32) int32

//go:wasmimport classgate_v1 state_clear
func hostStateClear() int32

//go:wasmimport classgate_v1 emit
func hostEmit(flags, kind uint32, targetPtr unsafe.Pointer, targetLen uint32, typePtr unsafe.Pointer, typeLen uint32, dataPtr unsafe.Pointer, dataLen uint32) int32

//go:wasmimport classgate_v1 reject
func hostReject(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport classgate_v1 forbid
func hostForbid(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport classgate_v1 json_find
func hostJSONFind(docPtr unsafe.Pointer, docLen uint32, pathPtr unsafe.Pointer, pathLen uint32, out unsafe.Pointer) int32

var findOut [3]uint32

// FindJSON returns the raw value at a dot-separated key path of the JSON
// document doc ("element.points"; "" is doc itself), found by the host in
// native code — scanning JSON in the guest is slow — and, when the value
// is an array, its element count. found is false when a key is missing;
// err is non-nil when doc is not valid JSON or a step is not an object.
// raw is a sub-slice of doc.
func FindJSON(doc []byte, path string) (raw []byte, count int, found bool, err error) {
	if len(doc) == 0 {
		return nil, 0, false, ErrInvalid
	}
	dp, dn := bp(doc)
	pp, pn := sp(path)
	switch r := hostJSONFind(dp, dn, pp, pn, unsafe.Pointer(&findOut[0])); r {
	case 0:
	case resultNotFound:
		return nil, 0, false, nil
	default:
		return nil, 0, false, ErrInvalid
	}
	off, n := findOut[0], findOut[1]
	if uint64(off)+uint64(n) > uint64(len(doc)) {
		return nil, 0, false, ErrInvalid
	}
	return doc[off : off+n], int(findOut[2]), true, nil
}

// The exports of ABI version 1.

//go:wasmexport classgate_abi_version_1
func abiVersion1() {}

var (
	inbuf   []byte  // owned by the host between cg_alloc calls
	scratch []byte  // state_get / state_list buffer
	typeBuf []byte  // "<namespace>.<action>" of the emit in progress
	handler Handler // built by cg_init
	current Call    // the call in progress (calls never overlap)
)

//go:wasmexport cg_alloc
func cgAlloc(size uint32) unsafe.Pointer {
	if size == 0 {
		size = 1
	}
	inbuf = make([]byte, size)
	return unsafe.Pointer(&inbuf[0])
}

//go:wasmexport cg_init
func cgInit(ptr unsafe.Pointer, n uint32) int32 {
	var h Handler
	var status int32
	h, status = initPlugin(registered, copyIn(ptr, n), wasmEnv{})
	handler = h
	return status
}

//go:wasmexport cg_handle
func cgHandle(ptr unsafe.Pointer, n uint32) int32 {
	if handler == nil {
		wasmEnv{}.log(int32(LevelError), "sdk: cg_handle before a successful cg_init")
		return statusError
	}
	return dispatch(handler, &current, unsafe.Slice((*byte)(ptr), n), wasmEnv{})
}

//go:wasmexport cg_warm
func cgWarm(ptr unsafe.Pointer, n uint32) int32 {
	if handler == nil {
		wasmEnv{}.log(int32(LevelError), "sdk: cg_warm before a successful cg_init")
		return statusError
	}
	return warmUp(handler, &current, string(copyIn(ptr, n)), wasmEnv{})
}

func copyIn(ptr unsafe.Pointer, n uint32) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, unsafe.Slice((*byte)(ptr), n))
	return b
}

// wasmEnv calls the host imports.
type wasmEnv struct{}

func sp(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bp(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

func scratchBuf(n int) []byte {
	if len(scratch) < n || len(scratch) == 0 {
		scratch = make([]byte, max(n, 4096))
	}
	return scratch
}

func (wasmEnv) get(key string) ([]byte, int32) {
	kp, kn := sp(key)
	buf := scratchBuf(0)
	n := hostStateGet(kp, kn, unsafe.Pointer(&buf[0]), uint32(len(buf)))
	if n > int32(len(buf)) {
		buf = scratchBuf(int(n))
		n = hostStateGet(kp, kn, unsafe.Pointer(&buf[0]), uint32(len(buf)))
	}
	if n < 0 {
		return nil, n
	}
	if n > int32(len(buf)) {
		return nil, resultInvalid
	}
	out := make([]byte, n)
	copy(out, buf[:n])
	return out, resultOKv
}

func (wasmEnv) list(prefix string) ([]Entry, int32) {
	pp, pn := sp(prefix)
	buf := scratchBuf(0)
	n := hostStateList(pp, pn, unsafe.Pointer(&buf[0]), uint32(len(buf)))
	if n > int32(len(buf)) {
		buf = scratchBuf(int(n))
		n = hostStateList(pp, pn, unsafe.Pointer(&buf[0]), uint32(len(buf)))
	}
	if n < 0 {
		return nil, n
	}
	if n > int32(len(buf)) {
		return nil, resultInvalid
	}
	b := make([]byte, n)
	copy(b, buf[:n])
	es, ok := decodeEntries(b)
	if !ok {
		return nil, resultInvalid
	}
	return es, resultOKv
}

func (wasmEnv) set(key string, value []byte) int32 {
	kp, kn := sp(key)
	vp, vn := bp(value)
	return hostStateSet(kp, kn, vp, vn)
}

func (wasmEnv) del(key string) int32 {
	kp, kn := sp(key)
	return hostStateDel(kp, kn)
}

func (wasmEnv) clear() int32 { return hostStateClear() }

func (wasmEnv) emit(flags uint32, kind TargetKind, target, namespace, action string, data []byte) int32 {
	typeBuf = append(append(append(typeBuf[:0], namespace...), '.'), action...)
	tp, tn := sp(target)
	yp, yn := bp(typeBuf)
	dp, dn := bp(data)
	return hostEmit(flags, uint32(kind), tp, tn, yp, yn, dp, dn)
}

func (wasmEnv) reject(reason string) int32 {
	p, n := sp(reason)
	return hostReject(p, n)
}

func (wasmEnv) forbid(reason string) int32 {
	p, n := sp(reason)
	return hostForbid(p, n)
}

func (wasmEnv) log(level int32, msg string) {
	p, n := sp(msg)
	hostLog(level, p, n)
}
