// Package awsapigw runs the classgate router behind Amazon API Gateway
// WebSocket APIs and AWS Lambda.
//
// API Gateway holds the sockets; every client event reaches a Lambda
// function as one invocation: $connect (after the REQUEST authorizer
// allowed the handshake), $default (one client message) and $disconnect.
// Handler turns these events into core.Router Connect, Receive and
// Disconnect calls on a router built in Direct mode (no local connection
// table: the registry in Redis is the only state). Sender implements
// core.Sender with the API Gateway Management API (PostToConnection,
// DeleteConnection). Authorizer is the REQUEST authorizer: it verifies the
// token from route.request.querystring.token with core/auth and hands the
// user to $connect in the authorizer context. EMF implements core.Observer
// as CloudWatch Embedded Metric Format lines.
//
// # Delivery
//
// The router calls Sender.Send once per recipient. Within an invocation
// (see Handler) Send only enqueues: frames go to one FIFO lane per
// connection, and up to SenderOptions.Workers lanes are posted in
// parallel, so one connection's frames keep their order while a room's
// fan-out runs concurrently. The invoking connection's own lane (its ack,
// joined, replies) is posted last, after every other lane finished: an ack
// therefore means the event was already posted to every other member.
// Handler flushes before it returns; nothing outlives the invocation.
//
// A post answered 410 Gone marks the connection dead: its remaining frames
// are dropped and, after the flush, Handler disconnects it through the
// router (leave hooks run, presence.leave is announced). 429 (throttling,
// LimitExceededException) and 5xx are retried with full-jitter exponential
// backoff within SenderOptions.Budget. 413 (a frame above API Gateway's
// 128 KB message limit) is logged and counted, never retried.
//
// # What API Gateway cannot do
//
//   - Nothing can be posted to a connection during its $connect (API
//     Gateway answers 410 until the handshake completed). The router sends
//     nothing on Connect; anything sent anyway is dropped and logged.
//   - Close codes: DeleteConnection closes the socket without a code of our
//     choosing, so 4001 (token expired), 4008 and 1012 cannot be sent;
//     Sender.Close logs the code it would have sent and deletes the
//     connection. Token expiry is noticed on the connection's next frame.
//   - Order: concurrent invocations post concurrently, so members may see
//     seqs out of order; clients re-order by seq (adapters/web does).
//   - Frames: 32 KB per frame and 128 KB per message, both directions.
//
// The package is the only one that imports aws-lambda-go and the AWS SDK;
// its exported API takes plain types except Handle and Authorize, which
// take the Lambda event types.
package awsapigw
