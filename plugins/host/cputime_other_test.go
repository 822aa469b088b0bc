//go:build !unix

package host

import "time"

// threadCPU is not measured here (0).
func threadCPU() time.Duration { return 0 }

func lockThread() func() { return func() {} }
