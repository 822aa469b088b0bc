package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	gojwt "github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/classgate/classgate/core/auth"
)

// Methods are the signature algorithms accepted.
var Methods = []string{"HS256", "RS256", "ES256"}

// DefaultJWKSRefresh is how often JWKS URLs are fetched again when
// Options.JWKSRefresh is 0.
const DefaultJWKSRefresh = time.Hour

// Options configure the keys, and the claims rules of the Verifier New
// builds.
type Options struct {
	// HS256Secret enables HS256 tokens signed with this secret.
	HS256Secret []byte
	// PublicKeysPEM are RSA or EC (P-256) public keys in PEM form
	// ("PUBLIC KEY" or "RSA PUBLIC KEY"), accepted for RS256/ES256 tokens.
	PublicKeysPEM [][]byte
	// JWKS is a JSON Web Key Set document; keys are matched by kid.
	JWKS []byte
	// JWKSURLs are JSON Web Key Sets fetched over HTTP(S) at New (which
	// fails when none answers), then every JWKSRefresh (default
	// DefaultJWKSRefresh) and when a token names an unknown kid (at most
	// once per JWKSUnknownKIDEvery, default 1 minute). Refreshing stops
	// when Context ends.
	JWKSURLs            []string
	JWKSRefresh         time.Duration
	JWKSUnknownKIDEvery time.Duration
	// HTTPClient fetches JWKSURLs (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Context bounds the JWKS refresh goroutine (default: the process).
	Context context.Context

	// The claims rules (see core/auth.Options).
	Roles       []string
	Leeway      time.Duration
	Issuer      string
	Audience    string
	MaxLifetime time.Duration
	Now         func() time.Time
}

// New builds a core/auth.Verifier whose signatures Keys checks.
func New(o Options) (*auth.Verifier, error) {
	k, err := NewKeys(o)
	if err != nil {
		return nil, err
	}
	return auth.New(auth.Options{Signatures: k, Roles: o.Roles, Leeway: o.Leeway, Issuer: o.Issuer,
		Audience: o.Audience, MaxLifetime: o.MaxLifetime, Now: o.Now})
}

// Keys implements auth.Signatures with golang-jwt. It is safe for
// concurrent use.
type Keys struct {
	hs     []byte
	pem    []crypto.PublicKey
	sets   []keyfunc.Keyfunc // the JWKS document, then the JWKS URLs
	parser *gojwt.Parser
}

var _ auth.Signatures = (*Keys)(nil)

// NewKeys reads the keys of o. It fails when there is none or one cannot
// be parsed, naming it.
func NewKeys(o Options) (*Keys, error) {
	k := &Keys{hs: o.HS256Secret, parser: gojwt.NewParser(gojwt.WithValidMethods(Methods), gojwt.WithoutClaimsValidation())}
	for i, p := range o.PublicKeysPEM {
		pk, err := ParsePublicKeyPEM(p)
		if err != nil {
			return nil, fmt.Errorf("jwt: public key %d: %w", i, err)
		}
		k.pem = append(k.pem, pk)
	}
	if len(o.JWKS) > 0 {
		if err := checkJWKS(o.JWKS); err != nil {
			return nil, fmt.Errorf("jwt: jwks: %w", err)
		}
		kf, err := keyfunc.NewJWKSetJSON(o.JWKS)
		if err != nil {
			return nil, fmt.Errorf("jwt: jwks: %w", err)
		}
		k.sets = append(k.sets, kf)
	}
	if len(o.JWKSURLs) > 0 {
		ctx := o.Context
		if ctx == nil {
			ctx = context.Background()
		}
		refresh, every := o.JWKSRefresh, o.JWKSUnknownKIDEvery
		if refresh <= 0 {
			refresh = DefaultJWKSRefresh
		}
		if every <= 0 {
			every = time.Minute
		}
		client := o.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		failFirst := false
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, o.JWKSURLs, keyfunc.Override{
			Client: client, RefreshInterval: refresh, RefreshUnknownKID: rate.NewLimiter(rate.Every(every), 1),
			NoErrorReturnFirstHTTPReq: &failFirst, RateLimitWaitMax: time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("jwt: jwks urls: %w", err)
		}
		k.sets = append(k.sets, kf)
	}
	if len(k.hs) == 0 && len(k.pem) == 0 && len(k.sets) == 0 {
		return nil, errors.New("jwt: no HS256 secret and no public key configured")
	}
	return k, nil
}

// Payload checks token's signature and returns its payload (claims JSON).
func (k *Keys) Payload(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 parts, got %d", auth.ErrMalformed, len(parts))
	}
	if _, err := k.parser.Parse(token, k.key); err != nil {
		if errors.Is(err, gojwt.ErrTokenMalformed) {
			return nil, fmt.Errorf("%w: %v", auth.ErrMalformed, err)
		}
		return nil, fmt.Errorf("%w: %v", auth.ErrSignature, err)
	}
	pb, err := k.parser.DecodeSegment(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", auth.ErrMalformed, err)
	}
	return pb, nil
}

// key returns the keys that may have signed t: the secret for HS256; for
// RS256 and ES256 the key its kid names in a JWKS, else every public key.
func (k *Keys) key(t *gojwt.Token) (any, error) {
	if t.Method.Alg() == "HS256" {
		if len(k.hs) == 0 {
			return nil, errors.New("HS256 not configured")
		}
		return k.hs, nil
	}
	var set gojwt.VerificationKeySet
	if kid, _ := t.Header["kid"].(string); kid != "" {
		for _, kf := range k.sets {
			if key, err := kf.Keyfunc(t); err == nil {
				return key, nil
			}
		}
	}
	for _, kf := range k.sets {
		if s, err := kf.VerificationKeySet(context.Background()); err == nil {
			set.Keys = append(set.Keys, s.Keys...)
		}
	}
	for _, p := range k.pem {
		set.Keys = append(set.Keys, p)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s: no public key configured", t.Method.Alg())
	}
	return set, nil
}

// ParsePublicKeyPEM parses an RSA or ECDSA (P-256) public key in PEM form.
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
		switch pk := k.(type) {
		case *rsa.PublicKey:
			return k, nil
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				return nil, fmt.Errorf("unsupported curve %s (ES256 needs P-256)", pk.Curve.Params().Name)
			}
			return k, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", blk.Type)
}

// checkJWKS refuses a key set with no keys or with a key ES256 or RS256
// cannot use (an EC curve other than P-256, a malformed key), naming it:
// a key the issuer meant to sign with that silently never matches would
// only show as refused tokens.
func checkJWKS(doc []byte) error {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(doc, &set); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("no keys")
	}
	for i, m := range set.Keys {
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		switch m.KTY {
		case jwkset.KtyRSA:
		case jwkset.KtyEC:
			if m.CRV != jwkset.CrvP256 {
				return fmt.Errorf("key %d (kid %q): unsupported curve %q", i, m.KID, m.CRV)
			}
		default:
			return fmt.Errorf("key %d (kid %q): unsupported kty %q", i, m.KID, m.KTY)
		}
		if _, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{}); err != nil {
			return fmt.Errorf("key %d (kid %q): %w", i, m.KID, err)
		}
	}
	return nil
}
