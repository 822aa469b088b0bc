package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/classgate/classgate/core"
)

// Errors returned by Verify. Handshakes map all of them to HTTP 401.
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("bad token signature")
	ErrExpired   = errors.New("token expired")
	// ErrNotYetValid: nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrLifetime: exp lies further than the configured maximum lifetime
	// after iat or after now.
	ErrLifetime = errors.New("token lifetime too long")
	ErrClaims   = errors.New("invalid token claims")
)

// Claims are the token claims classgate uses.
type Claims struct {
	Subject string   `json:"sub"`
	Name    string   `json:"name,omitempty"`
	Role    string   `json:"role,omitempty"`
	Rooms   []string `json:"rooms,omitempty"`
	Expiry  int64    `json:"exp"`
	// NotBefore (nbf), IssuedAt (iat), Issuer (iss) and Audience (aud)
	// are the registered claims of RFC 7519; aud may be a string or an
	// array of strings.
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  Audience `json:"aud,omitempty"`
}

// Audience is the aud claim: one string or an array of strings.
type Audience []string

// UnmarshalJSON accepts "aud" and ["aud", ...].
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// MarshalJSON writes one audience as a string, several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// Conn turns verified claims into the router's connection description.
func (c Claims) Conn(id core.ConnID) core.ConnInfo {
	return core.ConnInfo{
		ID:      id,
		User:    core.User{ID: c.Subject, Name: c.Name, Role: c.Role},
		Rooms:   c.Rooms,
		Expires: time.Unix(c.Expiry, 0),
	}
}

// Signatures is the port a token library implements (adapters/jwt, on
// golang-jwt): it checks the signature of a compact JWS against the keys
// it was configured with — HS256, RS256, ES256; never "none" — and returns
// the token's payload, undecoded. Its errors wrap ErrMalformed or
// ErrSignature. It is safe for concurrent use.
type Signatures interface {
	Payload(token string) ([]byte, error)
}

// Verifier checks tokens: the signature through its Signatures, then the
// claims rules below, the same wherever a token is checked (the
// standalone server's handshake, the Lambda authorizer). The zero value
// accepts nothing; build one with New. A Verifier is safe for concurrent
// use.
type Verifier struct {
	sig      Signatures
	roles    map[string]bool
	leeway   time.Duration
	issuer   string
	audience string
	maxLife  time.Duration
	now      func() time.Time
}

// DefaultRoles are the roles accepted when Options.Roles is empty.
var DefaultRoles = []string{"teacher", "student"}

// Options configure a Verifier.
type Options struct {
	// Signatures checks signatures (required; adapters/jwt).
	Signatures Signatures
	// Roles allowed in the role claim; empty means DefaultRoles.
	Roles []string
	// Leeway tolerated on exp and nbf for clock skew.
	Leeway time.Duration
	// Issuer, when set, is required in the iss claim.
	Issuer string
	// Audience, when set, must be in the aud claim.
	Audience string
	// MaxLifetime, when > 0, refuses tokens whose exp lies further than
	// this after their iat, or after now (beyond the leeway): a leaked
	// token cannot be valid for long whatever its issuer wrote.
	MaxLifetime time.Duration
	// Now overrides the clock (tests).
	Now func() time.Time
}

// New builds a Verifier. It fails without Signatures.
func New(o Options) (*Verifier, error) {
	if o.Signatures == nil {
		return nil, errors.New("auth: no signature verifier configured")
	}
	v := &Verifier{sig: o.Signatures, leeway: o.Leeway, now: o.Now,
		issuer: o.Issuer, audience: o.Audience, maxLife: o.MaxLifetime}
	if v.now == nil {
		v.now = time.Now
	}
	roles := o.Roles
	if len(roles) == 0 {
		roles = DefaultRoles
	}
	v.roles = map[string]bool{}
	for _, r := range roles {
		v.roles[r] = true
	}
	return v, nil
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

var b64 = base64.RawURLEncoding

// Verify checks the signature, exp, nbf, the lifetime, iss, aud and the
// required claims of token. Its errors wrap the Err* values above and say
// why in detail: for logs, not for clients.
func (v *Verifier) Verify(token string) (Claims, error) {
	var c Claims
	if v == nil || v.sig == nil {
		return c, fmt.Errorf("%w: no verifier configured", ErrSignature)
	}
	pb, err := v.sig.Payload(token)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(pb, &c); err != nil {
		return c, fmt.Errorf("%w: payload: %v", ErrClaims, err)
	}
	return c, v.check(c)
}

// check applies the claims rules to c.
func (v *Verifier) check(c Claims) error {
	if c.Subject == "" {
		return fmt.Errorf("%w: sub is required", ErrClaims)
	}
	if c.Expiry == 0 {
		return fmt.Errorf("%w: exp is required", ErrClaims)
	}
	now := v.now()
	exp := time.Unix(c.Expiry, 0)
	if now.After(exp.Add(v.leeway)) {
		return ErrExpired
	}
	if c.NotBefore != 0 && now.Add(v.leeway).Before(time.Unix(c.NotBefore, 0)) {
		return fmt.Errorf("%w: nbf is %v from now", ErrNotYetValid, time.Unix(c.NotBefore, 0).Sub(now))
	}
	if v.maxLife > 0 {
		if exp.Sub(now) > v.maxLife+v.leeway {
			return fmt.Errorf("%w: exp is %v from now, at most %v allowed", ErrLifetime, exp.Sub(now).Round(time.Second), v.maxLife)
		}
		if c.IssuedAt != 0 && exp.Sub(time.Unix(c.IssuedAt, 0)) > v.maxLife {
			return fmt.Errorf("%w: exp − iat is %v, at most %v allowed", ErrLifetime, exp.Sub(time.Unix(c.IssuedAt, 0)), v.maxLife)
		}
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return fmt.Errorf("%w: iss %q is not the configured issuer", ErrClaims, c.Issuer)
	}
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
		return fmt.Errorf("%w: aud %q does not include %q", ErrClaims, []string(c.Audience), v.audience)
	}
	if c.Role != "" && !v.roles[c.Role] {
		return fmt.Errorf("%w: role %q is not configured", ErrClaims, c.Role)
	}
	return nil
}
