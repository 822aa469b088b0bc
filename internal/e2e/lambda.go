package e2e

import "github.com/coder/websocket"

// Difference names one unavoidable difference of the API Gateway + Lambda
// deployment from the standalone server. These are the only reasons the
// suites branch on Target.Lambda: each branch names its Difference
// (tg.differs) and asserts the Lambda behaviour exactly, instead of
// relaxing the check. docs/LAMBDA.md ("Differences from the standalone
// server") lists the same names; cmd/apigw-emulator's TestDifferencesDocumented
// checks that the two agree.
type Difference string

const (
	// CloseCodeOfAPIGateway: a connection the function closes (token
	// expired, slow consumer, unknown connection) is closed by API
	// Gateway's DeleteConnection, whose close code the function cannot
	// choose: the client sees Target.CloseCode (1000) where the standalone
	// server sends 4001, 4008 or 1013.
	CloseCodeOfAPIGateway Difference = "close-code"
	// NoRateLimiter: the function keeps no per-connection state between
	// invocations, so it has no token bucket (and API Gateway invokes it
	// per frame, so there is no inbound queue to shed from either,
	// wsserver.Options.ShedAfter): floods are answered frame by frame (API
	// Gateway's stage throttling is the limit), never rate_limited, never
	// closed with 1008.
	NoRateLimiter Difference = "no-rate-limiter"
	// ConcurrentFramesOfOneConnection: API Gateway may invoke the function
	// for one connection's frames concurrently, so frames sent without
	// waiting for their answers may be handled (and answered) in another
	// order than sent; a client that needs an order (a leave after its
	// join) waits for the answer. Every answer still carries its id, and
	// room events still reach every member in seq order.
	ConcurrentFramesOfOneConnection Difference = "concurrent-frames"
	// InvalidUTF8BecomesReplacement: API Gateway hands the function the
	// message inside a JSON event whose encoding has already replaced
	// invalid UTF-8 bytes with U+FFFD, so the function sees valid text and
	// may accept it where the standalone server answers bad_request.
	// Nothing invalid reaches any member on either deployment.
	InvalidUTF8BecomesReplacement Difference = "utf8-replaced"
	// NoReadableHeap: memory belongs to the function's execution
	// environments, which nothing can read from outside; memory-bound
	// checks run their load and check that the deployment keeps serving.
	NoReadableHeap Difference = "no-heap"
	// FrameLimit32KB: API Gateway closes a connection sending a frame
	// above 32 KB (1009); clients send larger messages in several frames
	// (Target.FrameLimit), up to its 128 KB message limit (HardLimit).
	FrameLimit32KB Difference = "32kb-frames"
)

// LambdaDifferences is the one list of the Lambda deployment's
// differences, with why each is unavoidable (the constants' doc comments
// say what the suite asserts instead).
var LambdaDifferences = map[Difference]string{
	CloseCodeOfAPIGateway:           "API Gateway's DeleteConnection chooses the close code",
	NoRateLimiter:                   "no per-connection state between invocations",
	ConcurrentFramesOfOneConnection: "API Gateway invokes the function for one connection's frames concurrently",
	InvalidUTF8BecomesReplacement:   "API Gateway delivers the message JSON-encoded, invalid bytes already replaced",
	NoReadableHeap:                  "execution environments' memory is not observable",
	FrameLimit32KB:                  "API Gateway's 32 KB frame limit",
}

// differs reports whether the deployment under test has difference d
// (every difference is the Lambda deployment's).
func (tg Target) differs(d Difference) bool {
	if _, ok := LambdaDifferences[d]; !ok {
		panic("e2e: undocumented difference " + string(d))
	}
	return tg.Lambda
}

// serverCloseCode is the code a connection the server closes for reason
// want (4001, 4008, 1013…) is closed with on this deployment.
func (tg Target) serverCloseCode(want websocket.StatusCode) websocket.StatusCode {
	if tg.differs(CloseCodeOfAPIGateway) {
		return websocket.StatusCode(tg.CloseCode)
	}
	return want
}
