package host

// pageSize is the host's page: the unit a reset copies back.
const pageSize = 4096

// maxDirtyShare: a reset that finds more than 1/maxDirtyShare of the pages
// written maps the snapshot afresh instead of copying them back, which
// also returns those private pages to the system (ABI.md §2).
const maxDirtyShare = 8

// heapMemory is linear memory as a Go slice, like wazero's default: the
// fallback where a mapping cannot be made.
type heapMemory struct {
	buf []byte
	max uint64
}

// Reallocate implements experimental.LinearMemory; nil beyond the maximum.
func (m *heapMemory) Reallocate(size uint64) []byte {
	switch {
	case size > m.max:
		return nil
	case size <= uint64(cap(m.buf)):
		m.buf = m.buf[:size]
	default:
		nb := make([]byte, size, min(m.max, size+size/2))
		copy(nb, m.buf)
		m.buf = nb
	}
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *heapMemory) Free() { m.buf = nil }
