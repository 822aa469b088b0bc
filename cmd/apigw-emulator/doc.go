// Command apigw-emulator plays Amazon API Gateway (WebSocket API) and AWS
// Lambda on one machine, so the real Lambda binaries of classgate run end
// to end without an AWS account:
//
//   - it accepts WebSockets (127.0.0.1 only), answers 401 without a
//     ?token=, invokes the authorizer binary with a REQUEST authorizer
//     event and applies its IAM policy (Unauthorized → 401, Deny → 403),
//     then invokes $connect with the authorizer context, routes every
//     client message to $default (route selection on $request.body.type;
//     the API has no other route) and invokes $disconnect when the
//     connection ends, whoever ended it;
//   - it serves the @connections Management API at
//     http://LISTEN/STAGE/@connections/{id}: POST (posted data reaches the
//     client in frames of at most 32 KB), GET and DELETE; unknown
//     connections get 410 with x-amzn-ErrorType: GoneException, as the AWS
//     SDK expects; requests must be SigV4-signed (the signature itself is
//     not checked); -post-faults injects 429/500 answers;
//   - it enforces API Gateway's limits: 32 KB frames and 128 KB messages
//     (close 1009), the idle timeout and the maximum connection lifetime
//     (10 min / 2 h; close 1001), shorter by flag for tests; a DELETE
//     closes the socket with 1000, the one code a function can cause;
//   - -wrapper runs the functions' binaries through a program, e.g.
//     qemu-aarch64-static to start the arm64 packages of `make lambda`
//     on an x86_64 machine;
//   - -schedule invokes the gateway function with an EventBridge
//     "Scheduled Event" at that period (the SAM template's sweep rule);
//   - it runs each function through its own implementation of the Lambda
//     Runtime API (/2018-06-01/runtime/invocation/next, /response, /error,
//     /init/error): a pool of execution environments per function, each
//     one process with its own Runtime API port, its own TMPDIR and the
//     usual environment (AWS_LAMBDA_FUNCTION_NAME, memory size, region,
//     fake credentials AWS_ACCESS_KEY_ID=local …); an invocation takes an
//     idle environment or starts one (a cold start) up to -concurrency.
//     It logs an INIT_REPORT (init duration: process start to the first
//     /next) per environment and a REPORT per invocation, and serves
//     /_emulator/stats.
//
// Differences from API Gateway that matter are listed in docs/LAMBDA.md.
//
//	apigw-emulator -authorizer bin/authorizer -function bin/gateway-lambda \
//	    -env CLASSGATE_AUTH__HS256_SECRET=... -env CLASSGATE_STORE__REDIS__ADDR=127.0.0.1:6379
package main
