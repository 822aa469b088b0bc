package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
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

// Verifier checks tokens. The zero value accepts nothing; build one with
// New. A Verifier is safe for concurrent use.
type Verifier struct {
	hsSecret []byte
	keys     map[string]crypto.PublicKey // kid → key; "" for keys without kid
	roles    map[string]bool
	leeway   time.Duration
	issuer   string
	audience string
	maxLife  time.Duration
	now      func() time.Time
}

// Options configure a Verifier.
type Options struct {
	// HS256Secret enables HS256 tokens signed with this secret.
	HS256Secret []byte
	// PublicKeysPEM are RSA or EC (P-256) public keys in PEM form
	// ("PUBLIC KEY" or "RSA PUBLIC KEY"), accepted for RS256/ES256 tokens.
	PublicKeysPEM [][]byte
	// JWKS is a JSON Web Key Set document; keys are matched by kid.
	JWKS []byte
	// Roles allowed in the role claim; empty means teacher and student.
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

// New builds a Verifier. It fails when no key is configured or a key
// cannot be parsed.
func New(o Options) (*Verifier, error) {
	v := &Verifier{hsSecret: o.HS256Secret, keys: map[string]crypto.PublicKey{}, leeway: o.Leeway, now: o.Now,
		issuer: o.Issuer, audience: o.Audience, maxLife: o.MaxLifetime}
	if v.now == nil {
		v.now = time.Now
	}
	for i, p := range o.PublicKeysPEM {
		k, err := ParsePublicKeyPEM(p)
		if err != nil {
			return nil, fmt.Errorf("auth: public key %d: %w", i, err)
		}
		v.keys[fmt.Sprintf("#pem%d", i)] = k
	}
	if len(o.JWKS) > 0 {
		ks, err := ParseJWKS(o.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auth: jwks: %w", err)
		}
		for kid, k := range ks {
			v.keys[kid] = k
		}
	}
	if len(v.hsSecret) == 0 && len(v.keys) == 0 {
		return nil, errors.New("auth: no HS256 secret and no public key configured")
	}
	roles := o.Roles
	if len(roles) == 0 {
		roles = []string{"teacher", "student"}
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
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: want 3 parts, got %d", ErrMalformed, len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return c, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return c, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	signed := token[:len(parts[0])+1+len(parts[1])]
	if err := v.checkSig(h, []byte(signed), sig); err != nil {
		return c, err
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(pb, &c); err != nil {
		return c, fmt.Errorf("%w: payload: %v", ErrClaims, err)
	}
	if c.Subject == "" {
		return c, fmt.Errorf("%w: sub is required", ErrClaims)
	}
	if c.Expiry == 0 {
		return c, fmt.Errorf("%w: exp is required", ErrClaims)
	}
	now := v.now()
	exp := time.Unix(c.Expiry, 0)
	if now.After(exp.Add(v.leeway)) {
		return c, ErrExpired
	}
	if c.NotBefore != 0 && now.Add(v.leeway).Before(time.Unix(c.NotBefore, 0)) {
		return c, fmt.Errorf("%w: nbf is %v from now", ErrNotYetValid, time.Unix(c.NotBefore, 0).Sub(now))
	}
	if v.maxLife > 0 {
		if exp.Sub(now) > v.maxLife+v.leeway {
			return c, fmt.Errorf("%w: exp is %v from now, at most %v allowed", ErrLifetime, exp.Sub(now).Round(time.Second), v.maxLife)
		}
		if c.IssuedAt != 0 && exp.Sub(time.Unix(c.IssuedAt, 0)) > v.maxLife {
			return c, fmt.Errorf("%w: exp − iat is %v, at most %v allowed", ErrLifetime, exp.Sub(time.Unix(c.IssuedAt, 0)), v.maxLife)
		}
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return c, fmt.Errorf("%w: iss %q is not the configured issuer", ErrClaims, c.Issuer)
	}
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
		return c, fmt.Errorf("%w: aud %q does not include %q", ErrClaims, []string(c.Audience), v.audience)
	}
	if c.Role != "" && !v.roles[c.Role] {
		return c, fmt.Errorf("%w: role %q is not configured", ErrClaims, c.Role)
	}
	return c, nil
}

func (v *Verifier) checkSig(h header, signed, sig []byte) error {
	switch h.Alg {
	case "HS256":
		if len(v.hsSecret) == 0 {
			return fmt.Errorf("%w: HS256 not configured", ErrSignature)
		}
		m := hmac.New(sha256.New, v.hsSecret)
		m.Write(signed)
		if !hmac.Equal(m.Sum(nil), sig) {
			return ErrSignature
		}
		return nil
	case "RS256", "ES256":
		sum := sha256.Sum256(signed)
		for kid, k := range v.candidates(h.Kid) {
			_ = kid
			if verifyAsym(h.Alg, k, sum[:], sig) {
				return nil
			}
		}
		return ErrSignature
	default:
		return fmt.Errorf("%w: unsupported alg %q", ErrSignature, h.Alg)
	}
}

// candidates returns the keys to try: the kid's key when the token names
// one we know, otherwise every key.
func (v *Verifier) candidates(kid string) map[string]crypto.PublicKey {
	if k, ok := v.keys[kid]; ok && kid != "" {
		return map[string]crypto.PublicKey{kid: k}
	}
	return v.keys
}

func verifyAsym(alg string, k crypto.PublicKey, digest, sig []byte) bool {
	switch key := k.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" && rsa.VerifyPKCS1v15(key, crypto.SHA256, digest, sig) == nil
	case *ecdsa.PublicKey:
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(key, digest, r, s)
	}
	return false
}

// ParsePublicKeyPEM parses an RSA or ECDSA public key in PEM form.
func ParsePublicKeyPEM(p []byte) (crypto.PublicKey, error) {
	blk, _ := pem.Decode(p)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	switch blk.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(blk.Bytes)
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			return k, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", blk.Type)
}
