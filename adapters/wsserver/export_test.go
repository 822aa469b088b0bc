package wsserver

import "github.com/classgate/classgate/internal/uring"

// SetRingDo replaces how s submits a fan-out batch to a ring, so a test
// can make the ring fail. Call it before any client connects.
func SetRingDo(s *Server, do func(*uring.Ring, []uring.Op) error) { s.ringDo = do }

// RingFaultLimit is ringFaultLimit, for tests.
const RingFaultLimit = ringFaultLimit
