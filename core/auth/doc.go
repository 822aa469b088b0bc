// Package auth validates the JWT access tokens of PROTOCOL v1 with the
// standard library only: HS256 against a shared secret, RS256 and ES256
// against configured PEM public keys or a JWKS document. The same Verifier
// is used by the standalone server's handshake and by the Lambda authorizer.
//
// Claims: sub (required), name, role, rooms (exact ids, "prefix*", "*"),
// exp (required), nbf, iat, iss and aud. A token without exp, with exp in
// the past or nbf in the future (beyond Options.Leeway), with exp further
// away than Options.MaxLifetime (after iat or after now), without the
// configured iss or aud, with an algorithm that has no configured key, or
// with "alg":"none" is refused.
package auth
