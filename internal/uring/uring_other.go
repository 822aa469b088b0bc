//go:build !linux

package uring

import "errors"

// Ring is unavailable on this system.
type Ring struct{}

// New reports that io_uring is Linux only.
func New(uint32) (*Ring, error) { return nil, errors.New("uring: io_uring is Linux only") }

// Close does nothing.
func (*Ring) Close() error { return nil }

// Do is never reached: New always fails.
func (*Ring) Do([]Op) error { return errors.New("uring: io_uring is Linux only") }

// Broken is always true: there is no ring.
func (*Ring) Broken() bool { return true }
