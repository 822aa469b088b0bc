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
// fan-out runs concurrently — the invoking connection's lane (its copy of
// the event, then its ack) beside the others, so that a slow member never
// delays the sender's ack. Each post attempt is bounded by
// SenderOptions.PostTimeout; a member slower than that is deleted as a
// slow consumer. Handler flushes before it returns; nothing outlives the
// invocation.
//
// # Order across invocations
//
// Sender implements core.Sequencer: the router marks which frames are a
// join's own (joined, replay, join states) and which are the fan-out of a
// commit's durable events, and the frames are posted in stages, each in
// its room's turn of the ordered hand-off in Redis (OrderOptions): the
// fan-out of seq N after that of N-1, a join's frames between the
// deliveries its joined seq separates. So every member receives a room's
// durable events in seq order without gaps from its joined seq, as on the
// standalone server, whichever invocations commit them; a turn not
// reached within OrderOptions.Wait is taken anyway (the client's gap
// handling recovers).
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
//     choosing (LambdaCloseCode), so 4001 (token expired), 4008 and 1013
//     cannot be sent; Sender.Close logs the code it would have sent and
//     deletes the connection.
//   - Timers: nothing runs between events. Token expiry is indexed in
//     Redis at $connect and swept by every invocation (at most every
//     HandlerOptions.ExpiryEvery per environment) and by scheduled
//     invocations (HandleScheduled), which delete expired connections.
//   - Frames: 32 KB per frame and 128 KB per message, both directions.
//
// The package is the only one that imports aws-lambda-go and the AWS SDK;
// its exported API takes plain types except Handle and Authorize, which
// take the Lambda event types.
package awsapigw
