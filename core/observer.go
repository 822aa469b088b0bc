package core

import "time"

// Observer receives the router's metrics events. Implementations must be
// cheap and safe for concurrent use; the Prometheus and CloudWatch EMF
// adapters implement it.
type Observer interface {
	// Connected is called with +1 on connect and -1 on disconnect.
	Connected(delta int)
	// FrameIn counts one client frame.
	FrameIn()
	// Joined counts one successful join.
	Joined()
	// Acked counts one ack sent.
	Acked()
	// ErrorSent counts one error frame by code.
	ErrorSent(code string)
	// RateLimited counts one frame refused by the rate limiter.
	RateLimited()
	// Duplicate counts one frame recognised by its dedupe id.
	Duplicate()
	// Delivered counts n deliveries of an event created at tsMillis.
	Delivered(n int, tsMillis int64)
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
func (nopObserver) FrameIn()                                {}
func (nopObserver) Joined()                                 {}
func (nopObserver) Acked()                                  {}
func (nopObserver) ErrorSent(string)                        {}
func (nopObserver) RateLimited()                            {}
func (nopObserver) Duplicate()                              {}
func (nopObserver) Delivered(int, int64)                    {}
func (nopObserver) PluginCall(string, time.Duration, error) {}
func (nopObserver) StoreError(string)                       {}
func (nopObserver) Replayed(int)                            {}
func (nopObserver) Resync()                                 {}
