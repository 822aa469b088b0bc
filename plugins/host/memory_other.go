//go:build !linux

package host

import (
	"errors"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryAllocator is nil (wazero's default, Go-heap memory) where
// anonymous mappings are not wired up.
var memoryAllocator experimental.MemoryAllocator

var errNoMapping = errors.New("snapshot mappings are implemented on Linux only")

// mappedMemory is never made here: resets copy the whole snapshot.
type mappedMemory struct{ file *snapFile }

func (m *mappedMemory) mapFile(*snapFile) error { return errNoMapping }

func (m *mappedMemory) writtenPages([]byte) (int, error) { return 0, errNoMapping }

func (m *mappedMemory) restoreDirty(*snapFile, []byte) (int, error) { return 0, errNoMapping }

// instanceAllocator leaves memory to wazero (m stays nil).
type instanceAllocator struct{ m *mappedMemory }

// Allocate implements experimental.MemoryAllocator.
func (a *instanceAllocator) Allocate(cap, max uint64) experimental.LinearMemory {
	return &heapMemory{max: max}
}

type snapFile struct{ view []byte }

func newSnapFile([]byte) (*snapFile, error) { return nil, errNoMapping }

func (f *snapFile) close() {}
