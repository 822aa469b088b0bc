// Command authorizer is the API Gateway REQUEST authorizer of the classgate
// WebSocket API's $connect route (identity source
// route.request.querystring.token). It verifies the token with core/auth —
// the same code and the same auth.* configuration as the standalone server
// — and returns an IAM policy allowing execute-api:Invoke on the method ARN,
// with the user in the context (userId, name, role, rooms comma-joined,
// exp) for $connect. A refused token gets "Unauthorized" (HTTP 401), or an
// explicit Deny policy (HTTP 403) with CLASSGATE_LAMBDA__AUTHORIZER_DENY=true.
//
// Configuration: the CLASSGATE_AUTH__* environment (hs256_secret,
// public_keys, jwks_file, roles, leeway); logs are JSON lines on stdout.
package main
