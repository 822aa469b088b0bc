// Command gateway-lambda is the classgate Lambda function behind an API
// Gateway WebSocket API: one function for $connect, $disconnect and
// $default, running the core router in Direct mode with the Redis store,
// the WebAssembly plugins and the Management API sender of
// adapters/awsapigw.
//
// Everything — configuration, Redis client, plugins (compiled once, with
// the wazero compilation cache in /tmp) — is built before lambda.Start, so
// it counts as the execution environment's init and is reused by every
// invocation.
//
//	bootstrap                    serve (AWS_LAMBDA_RUNTIME_API must be set)
//	bootstrap -check             validate the configuration and exit
//	bootstrap -warm-cache DIR    compile the plugins into DIR and exit
//
// Configuration: lambda.yaml beside the binary ($LAMBDA_TASK_ROOT), then
// the CLASSGATE_* environment, as for the standalone gateway (see
// configs/lambda.yaml). The Lambda-only settings are keys like any other,
// lambda.* (CLASSGATE_LAMBDA__WORKERS=8 …), read through internal/config
// (config.Lambda; configs/gateway.yaml documents each).
package main
