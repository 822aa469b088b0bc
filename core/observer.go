package core

import "time"

// Observer receives the router's metrics events. Implementations must be
// cheap and safe for concurrent use; the Prometheus and CloudWatch EMF
// adapters implement it.
type Observer interface {
	// Connected is called with +1 on connect and -1 on disconnect.
	Connected(delta int)
	// FrameIn counts one client frame by type. Types are bounded: control
	// types, enabled plugin types, or "invalid"/"unknown".
	FrameIn(typ string)
	// FrameOut counts one server frame sent to a connection, by type
	// (control frames: joined, ack, error, pong, resync; replies).
	FrameOut(typ string)
	// Joined counts one successful join.
	Joined()
	// Rooms reports the number of rooms with members on this node
	// (standalone mode) after it changed.
	Rooms(n int)
	// Acked counts one ack sent.
	Acked()
	// ErrorSent counts one error frame by code.
	ErrorSent(code string)
	// RateLimited counts one frame refused by the rate limiter.
	RateLimited()
	// Duplicate counts one frame recognised by its dedupe id.
	Duplicate()
	// Delivered counts n deliveries of a room event of type typ created at
	// tsMillis (for the end-to-end fan-out latency).
	Delivered(typ string, n int, tsMillis int64)
	// PluginCall reports one handler call.
	PluginCall(namespace string, d time.Duration, err error)
	// StoreError counts one failed store operation.
	StoreError(op string)
	// Replayed counts events replayed on join; Resync counts resyncs.
	Replayed(n int)
	Resync()
}

type nopObserver struct{}

func (nopObserver) Connected(int)                           {}
func (nopObserver) FrameIn(string)                          {}
func (nopObserver) FrameOut(string)                         {}
func (nopObserver) Joined()                                 {}
func (nopObserver) Rooms(int)                               {}
func (nopObserver) Acked()                                  {}
func (nopObserver) ErrorSent(string)                        {}
func (nopObserver) RateLimited()                            {}
func (nopObserver) Duplicate()                              {}
func (nopObserver) Delivered(string, int, int64)            {}
func (nopObserver) PluginCall(string, time.Duration, error) {}
func (nopObserver) StoreError(string)                       {}
func (nopObserver) Replayed(int)                            {}
func (nopObserver) Resync()                                 {}
