// Package jwt checks token signatures with github.com/golang-jwt/jwt/v5
// and JWKS with github.com/MicahParks/keyfunc/v3: it implements the
// core/auth.Signatures port, and New builds a core/auth.Verifier on it (the
// claims rules — exp, nbf, iat lifetime, iss, aud, roles — stay in
// core/auth).
//
// Keys: an HS256 shared secret; RSA or EC P-256 public keys in PEM form
// (RS256, ES256); a JWKS document (keys matched by kid; without a kid every
// key is tried); and JWKS URLs, fetched at New, refreshed every
// Options.JWKSRefresh and, rate-limited, when a token names a kid not yet
// known — so an issuer can rotate its keys without a restart. Only
// HS256, RS256 and ES256 are accepted; "none" and every other algorithm
// are refused.
package jwt
