package core

import "fmt"

// Code is a protocol error code sent in error frames.
type Code string

// Error codes of PROTOCOL v1.
const (
	CodeBadRequest  Code = "bad_request"
	CodeTooLarge    Code = "too_large"
	CodeUnknownType Code = "unknown_type"
	CodeNotJoined   Code = "not_joined"
	CodeForbidden   Code = "forbidden"
	CodeRateLimited Code = "rate_limited"
	CodeRejected    Code = "rejected"
	CodePluginError Code = "plugin_error"
	CodeInternal    Code = "internal"
)

// Close codes of PROTOCOL v1.
const (
	CloseNormal       = 1000
	ClosePolicy       = 1008
	CloseTooLarge     = 1009
	CloseInternal     = 1011
	CloseRestarting   = 1012
	CloseTryLater     = 1013
	CloseTokenExpired = 4001
	CloseRemoved      = 4003
	CloseSlowConsumer = 4008
)

// Error is a protocol error: a code the client branches on and a message
// for humans.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errf builds an *Error.
func Errf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
