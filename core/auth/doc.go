// Package auth holds the token rules of PROTOCOL v1 and the port that
// checks signatures. A Verifier asks its Signatures (adapters/jwt, on
// golang-jwt/jwt v5: HS256 against a shared secret, RS256 and ES256
// against PEM public keys or JWKS, local or fetched and rotated) for the
// payload of a correctly signed token, then applies the claims rules here,
// with the standard library only. The same Verifier is used by the
// standalone server's handshake and by the Lambda authorizer.
//
// Claims: sub (required), name, role, rooms (exact ids, "prefix*", "*"),
// exp (required), nbf, iat, iss and aud. A token without exp, with exp in
// the past or nbf in the future (beyond Options.Leeway), with exp further
// away than Options.MaxLifetime (after iat or after now), without the
// configured iss or aud, or with a role not configured is refused; so is
// one whose signature the Signatures refuse (an algorithm with no
// configured key, "alg":"none").
//
// SignHS256 mints HS256 tokens (dev mode, tools, tests).
package auth
