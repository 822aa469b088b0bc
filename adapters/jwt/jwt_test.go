package jwt_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/core/auth"
)

var b64 = base64.RawURLEncoding

func signAsym(t *testing.T, alg, kid string, key crypto.Signer, c auth.Claims) string {
	t.Helper()
	hb, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid})
	pb, _ := json.Marshal(c)
	s := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	sum := sha256.Sum256([]byte(s))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	}
	return s + "." + b64.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pt, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "kid": "ec1", "crv": "P-256", "use": "sig",
		"x": b64.EncodeToString(pt[1:33]),
		"y": b64.EncodeToString(pt[33:]),
	}}})
	v, err := jwt.New(jwt.Options{HS256Secret: secret, PublicKeysPEM: [][]byte{rsaPEM}, JWKS: jwks, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	good := auth.Claims{Subject: "u1", Name: "Ann", Role: "teacher", Rooms: []string{"r*"}, Expiry: now.Add(time.Hour).Unix()}
	hs := func(c auth.Claims) string { s, _ := auth.SignHS256(secret, c); return s }
	with := func(f func(*auth.Claims)) auth.Claims { c := good; f(&c); return c }
	noneTok := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"u1","exp":1900000000}`)) + "."

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"hs256 ok", hs(good), nil},
		{"rs256 pem ok", signAsym(t, "RS256", "", rsaKey, good), nil},
		{"es256 jwks ok", signAsym(t, "ES256", "ec1", ecKey, good), nil},
		{"es256 unknown key", signAsym(t, "ES256", "ec1", otherEC, good), auth.ErrSignature},
		{"hs256 wrong secret", func() string { s, _ := auth.SignHS256([]byte("other-secret-other-secret-xxxxxx"), good); return s }(), auth.ErrSignature},
		{"alg none", noneTok, auth.ErrSignature},
		{"expired", hs(with(func(c *auth.Claims) { c.Expiry = now.Add(-time.Second).Unix() })), auth.ErrExpired},
		{"no exp", hs(with(func(c *auth.Claims) { c.Expiry = 0 })), auth.ErrClaims},
		{"no sub", hs(with(func(c *auth.Claims) { c.Subject = "" })), auth.ErrClaims},
		{"unknown role", hs(with(func(c *auth.Claims) { c.Role = "admin" })), auth.ErrClaims},
		{"two parts", "a.b", auth.ErrMalformed},
		{"garbage header", "!!.e30.", auth.ErrMalformed},
		{"tampered payload", func() string {
			p := strings.Split(hs(good), ".")
			p[1] = b64.EncodeToString([]byte(`{"sub":"admin","exp":1900000000}`))
			return strings.Join(p, ".")
		}(), auth.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: got %v, want %v", err, tt.want)
			}
			if err == nil && (c.Subject != "u1" || c.Name != "Ann") {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestNewNeedsAKey(t *testing.T) {
	if _, err := jwt.New(jwt.Options{}); err == nil {
		t.Fatal("New with no key: want error")
	}
	if _, err := jwt.New(jwt.Options{PublicKeysPEM: [][]byte{[]byte("not pem")}}); err == nil {
		t.Fatal("New with bad PEM: want error")
	}
	if _, err := jwt.New(jwt.Options{JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`)}); err == nil {
		t.Fatal("New with unsupported curve: want error")
	}
	if _, err := jwt.New(jwt.Options{JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`)}); err == nil {
		t.Fatal("New with a point off the curve: want error")
	}
}

// TestRegisteredClaims: nbf (with the same leeway as exp), the maximum
// lifetime (exp − iat, and exp − now), a required iss and aud.
func TestRegisteredClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	secret := []byte("0123456789abcdef0123456789abcdef")
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	base := auth.Claims{Subject: "u1", Expiry: at(time.Hour)}
	with := func(f func(*auth.Claims)) auth.Claims { c := base; f(&c); return c }
	strict := jwt.Options{HS256Secret: secret, Leeway: 30 * time.Second, Issuer: "https://lms.example", Audience: "classgate",
		MaxLifetime: 12 * time.Hour}
	lax := jwt.Options{HS256Secret: secret, Leeway: 30 * time.Second}
	ok := func(c *auth.Claims) { c.Issuer = "https://lms.example"; c.Audience = auth.Audience{"classgate"} }
	tests := []struct {
		name   string
		opts   jwt.Options
		claims auth.Claims
		want   error
	}{
		{"nbf in the past", lax, with(func(c *auth.Claims) { c.NotBefore = at(-time.Minute) }), nil},
		{"nbf within the leeway", lax, with(func(c *auth.Claims) { c.NotBefore = at(20 * time.Second) }), nil},
		{"nbf in the future", lax, with(func(c *auth.Claims) { c.NotBefore = at(time.Minute) }), auth.ErrNotYetValid},
		{"exp within the leeway", lax, with(func(c *auth.Claims) { c.Expiry = at(-20 * time.Second) }), nil},
		{"no lifetime limit", lax, with(func(c *auth.Claims) { c.Expiry = at(24 * 365 * time.Hour) }), nil},
		{"all required claims", strict, with(ok), nil},
		{"aud among several", strict, with(func(c *auth.Claims) { ok(c); c.Audience = auth.Audience{"other", "classgate"} }), nil},
		{"wrong iss", strict, with(func(c *auth.Claims) { ok(c); c.Issuer = "https://evil.example" }), auth.ErrClaims},
		{"no iss", strict, with(func(c *auth.Claims) { ok(c); c.Issuer = "" }), auth.ErrClaims},
		{"wrong aud", strict, with(func(c *auth.Claims) { ok(c); c.Audience = auth.Audience{"other"} }), auth.ErrClaims},
		{"no aud", strict, with(func(c *auth.Claims) { ok(c); c.Audience = nil }), auth.ErrClaims},
		{"lifetime at the limit", strict, with(func(c *auth.Claims) { ok(c); c.IssuedAt = at(0); c.Expiry = at(12 * time.Hour) }), nil},
		{"exp − iat too long", strict, with(func(c *auth.Claims) { ok(c); c.IssuedAt = at(-time.Hour); c.Expiry = at(12 * time.Hour) }), auth.ErrLifetime},
		{"exp − now too long without iat", strict, with(func(c *auth.Claims) { ok(c); c.Expiry = at(13 * time.Hour) }), auth.ErrLifetime},
		{"iat in the future does not stretch it", strict, with(func(c *auth.Claims) { ok(c); c.IssuedAt = at(48 * time.Hour); c.Expiry = at(50 * time.Hour) }), auth.ErrLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Now = func() time.Time { return now }
			v, err := jwt.New(o)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := auth.SignHS256(secret, tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(tok); !errors.Is(err, tt.want) {
				t.Fatalf("Verify: got %v, want %v", err, tt.want)
			}
		})
	}
	// aud as a plain string, as most issuers write it.
	v, _ := jwt.New(jwt.Options{HS256Secret: secret, Audience: "classgate", Now: func() time.Time { return now }})
	p := b64.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + b64.EncodeToString([]byte(fmt.Sprintf(`{"sub":"u","exp":%d,"aud":"classgate"}`, at(time.Hour))))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(p))
	if _, err := v.Verify(p + "." + b64.EncodeToString(m.Sum(nil))); err != nil {
		t.Fatalf("aud as a string: %v", err)
	}
}

// FuzzVerify: no input makes Verify panic, and every token it accepts
// carries a valid HS256 signature over its first two parts, a subject and
// an exp in the future.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	v, err := jwt.New(jwt.Options{HS256Secret: secret, Audience: "classgate", MaxLifetime: 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	good := auth.Claims{Subject: "u1", Rooms: []string{"class-7a,*"}, Expiry: now.Add(time.Hour).Unix(), Audience: auth.Audience{"classgate"}}
	for _, c := range []auth.Claims{good,
		{Subject: "u1", Expiry: now.Add(-time.Hour).Unix()},
		{Subject: "u1", Expiry: now.Add(time.Hour).Unix(), NotBefore: now.Add(time.Minute).Unix(), Audience: auth.Audience{"a", "classgate"}},
		{Subject: "u1", Expiry: now.Add(48 * time.Hour).Unix(), IssuedAt: now.Unix()},
	} {
		tok, _ := auth.SignHS256(secret, c)
		f.Add(tok)
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.", "!!.e30.",
		b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"u1","exp":1900000000}`)) + ".",
		b64.EncodeToString([]byte(`{"alg":"RS256"}`)) + ".e30.AAAA",
		b64.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"u","exp":1e400,"aud":7}`)) + ".AAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			return
		}
		parts := strings.Split(token, ".")
		sig, derr := b64.DecodeString(parts[2])
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(parts[0] + "." + parts[1]))
		if derr != nil || !hmac.Equal(m.Sum(nil), sig) {
			t.Fatalf("accepted a token without a valid signature: %q", token)
		}
		if c.Subject == "" || !time.Unix(c.Expiry, 0).After(now) || !slices.Contains(c.Audience, "classgate") {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}
