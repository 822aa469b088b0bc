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
	"strings"
	"time"

	"github.com/classgate/classgate/core"
)

// Errors returned by Verify. Handshakes map all of them to HTTP 401.
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("bad token signature")
	ErrExpired   = errors.New("token expired")
	ErrClaims    = errors.New("invalid token claims")
)

// Claims are the token claims classgate uses.
type Claims struct {
	Subject string   `json:"sub"`
	Name    string   `json:"name,omitempty"`
	Role    string   `json:"role,omitempty"`
	Rooms   []string `json:"rooms,omitempty"`
	Expiry  int64    `json:"exp"`
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
	// Leeway tolerated on exp for clock skew.
	Leeway time.Duration
	// Now overrides the clock (tests).
	Now func() time.Time
}

// New builds a Verifier. It fails when no key is configured or a key
// cannot be parsed.
func New(o Options) (*Verifier, error) {
	v := &Verifier{hsSecret: o.HS256Secret, keys: map[string]crypto.PublicKey{}, leeway: o.Leeway, now: o.Now}
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

// Verify checks the signature, exp and required claims of token.
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
	if v.now().After(time.Unix(c.Expiry, 0).Add(v.leeway)) {
		return c, ErrExpired
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
