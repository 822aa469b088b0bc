//go:build unix && !linux

package host

import "syscall"

const rusageThread = syscall.RUSAGE_SELF
