//go:build !linux

package host

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is nil (wazero's default, Go-heap memory) where
// anonymous mappings are not wired up.
var memoryAllocator experimental.MemoryAllocator
