package core

import "fmt"

// Code is a protocol error code sent in error frames.
type Code string

// Error codes of PROTOCOL v1. Add one here and to Codes; the tests in
// codes_docs_test.go then name the docs that must list it
// (docs/PROTOCOL.md "Errors", adapters/web/static/classgate.d.ts).
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

// Close codes of PROTOCOL v1. Add one here and to CloseCodes; the tests in
// codes_docs_test.go then name the docs that must list it
// (docs/PROTOCOL.md "Close codes").
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

// Codes lists every error code, in the order of docs/PROTOCOL.md's Errors
// table: the one list the docs, the browser client's types and the tests
// are checked against.
var Codes = []Code{CodeBadRequest, CodeTooLarge, CodeUnknownType, CodeNotJoined, CodeForbidden,
	CodeRateLimited, CodeRejected, CodePluginError, CodeInternal}

// CloseCodes lists every close code the gateway sends, in the order of
// docs/PROTOCOL.md's "Close codes".
var CloseCodes = []int{CloseNormal, ClosePolicy, CloseTooLarge, CloseInternal, CloseRestarting,
	CloseTryLater, CloseTokenExpired, CloseRemoved, CloseSlowConsumer}

// Error is a protocol error: a code the client branches on and a message
// for humans.
type Error struct {
	Code    Code
	Message string
	// remembered: the answer the store remembered for the frame's id
	// (not to be remembered again).
	remembered bool
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// refusal reports a plugin's refusal (rejected, forbidden) that is not
// yet remembered for the frame's id: an answer a retry must get again.
func (e *Error) refusal() bool {
	return !e.remembered && (e.Code == CodeRejected || e.Code == CodeForbidden)
}

// Errf builds an *Error.
func Errf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
