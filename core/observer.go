package core

import "time"

// Observer receives the gateway's metrics events: the router's, and the
// transport's (SlowConsumer). Implementations must be cheap and safe for
// concurrent use; the Prometheus and CloudWatch EMF adapters implement it.
//
// Every implementation embeds NopObserver and overrides the hooks it
// wants, so a hook added here breaks none of them (a test in core checks
// that every implementation in the repository does).
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
	// Shed counts one frame answered rate_limited because it queued too
	// long on its connection (Router.Shed).
	Shed()
	// Duplicate counts one frame recognised by its dedupe id.
	Duplicate()
	// Delivered counts n deliveries of a room event of type typ created at
	// tsMillis (for the end-to-end fan-out latency). An event this node
	// hands out in two parts (some members from its own commit, the others
	// later from the Bus) is reported twice, the second time with
	// tsMillis 0: its deliveries count, its latency is observed once.
	Delivered(typ string, n int, tsMillis int64)
	// PluginCall reports one handler call.
	PluginCall(namespace string, d time.Duration, err error)
	// StoreError counts one failed store operation.
	StoreError(op string)
	// Replayed counts events replayed on join; Resync counts resyncs.
	Replayed(n int)
	Resync()
	// SlowConsumer counts one connection the transport closed because it
	// could not keep up (close code 4008; wsserver reports it).
	SlowConsumer()
}

// NopObserver is an Observer whose hooks do nothing: the default when
// Options.Observer is nil, and the struct every implementation embeds so
// that it only declares the hooks it uses.
type NopObserver struct{}

var _ Observer = NopObserver{}

// Connected does nothing.
func (NopObserver) Connected(int) {}

// FrameIn does nothing.
func (NopObserver) FrameIn(string) {}

// FrameOut does nothing.
func (NopObserver) FrameOut(string) {}

// Joined does nothing.
func (NopObserver) Joined() {}

// Rooms does nothing.
func (NopObserver) Rooms(int) {}

// Acked does nothing.
func (NopObserver) Acked() {}

// ErrorSent does nothing.
func (NopObserver) ErrorSent(string) {}

// RateLimited does nothing.
func (NopObserver) RateLimited() {}

// Shed does nothing.
func (NopObserver) Shed() {}

// Duplicate does nothing.
func (NopObserver) Duplicate() {}

// Delivered does nothing.
func (NopObserver) Delivered(string, int, int64) {}

// PluginCall does nothing.
func (NopObserver) PluginCall(string, time.Duration, error) {}

// StoreError does nothing.
func (NopObserver) StoreError(string) {}

// Replayed does nothing.
func (NopObserver) Replayed(int) {}

// Resync does nothing.
func (NopObserver) Resync() {}

// SlowConsumer does nothing.
func (NopObserver) SlowConsumer() {}
