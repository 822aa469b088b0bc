package host

import "errors"

// Errors of failed calls, wrapped with the plugin's name and details; the
// router reports any of them to the sender as plugin_error.
var (
	// ErrTimeout: the call ran past its deadline; the instance was discarded.
	ErrTimeout = errors.New("timed out")
	// ErrCrashed: the instance trapped or exited (panic outside the SDK's
	// recovery, out of memory, unreachable…); it was discarded.
	ErrCrashed = errors.New("crashed")
	// ErrProtocol: the guest broke the ABI (bad pointers, invalid JSON,
	// unknown status…); the instance was discarded.
	ErrProtocol = errors.New("broke the plugin ABI")
	// ErrFailed: the plugin reported an error or a recovered panic.
	ErrFailed = errors.New("failed")
	// ErrPanicked: with ErrFailed, the plugin panicked and recovered; the
	// instance was discarded.
	ErrPanicked = errors.New("panic")
	// ErrRefused: the sender spent its failure budget with this plugin
	// (Plugin.FailureBudget); the frame was refused without calling the
	// plugin.
	ErrRefused = errors.New("refused: the sender's failure budget with this plugin is spent")
	// ErrLimit: the call exceeded a per-call output limit of the ABI (for
	// example a join reply larger than the output cap); the instance is
	// kept.
	ErrLimit = errors.New("exceeded a per-call limit")
	// ErrBadOutput: the plugin emitted an event whose type is not a valid
	// event type of its namespace or whose data is not valid UTF-8 JSON.
	// Nothing of the call is relayed; the instance is kept (the output
	// usually echoes bad input, the instance is not corrupted).
	ErrBadOutput = errors.New("emitted invalid output")
	// ErrDisabled: the namespace is not enabled in the room (it was
	// disabled by a reload after the router picked the handler).
	ErrDisabled = errors.New("not enabled in this room")
	// ErrClosed: the host or the plugin version is closed.
	ErrClosed = errors.New("plugin host closed")
	// ErrABI: a module does not implement a supported ABI version.
	ErrABI = errors.New("wrong ABI")
)
