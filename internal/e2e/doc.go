// Package e2e is the end-to-end protocol suite of PROTOCOL v1. It talks to
// a running deployment over real WebSocket connections on loopback, so the
// same tests run against the standalone server and against the Lambda
// deployment in the API Gateway emulator, with identical expectations.
//
// A deployment under test must enable a "chat" namespace where chat.send
// {text} broadcasts a durable chat.message and chat.typing an ephemeral
// chat.typing (the wasm chat plugin, or a Go stand-in in unit tests).
package e2e
