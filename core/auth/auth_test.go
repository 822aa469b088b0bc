package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func signAsym(t *testing.T, alg, kid string, key crypto.Signer, c Claims) string {
	t.Helper()
	hb, _ := json.Marshal(header{Alg: alg, Kid: kid})
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
	v, err := New(Options{HS256Secret: secret, PublicKeysPEM: [][]byte{rsaPEM}, JWKS: jwks, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	good := Claims{Subject: "u1", Name: "Ann", Role: "teacher", Rooms: []string{"r*"}, Expiry: now.Add(time.Hour).Unix()}
	hs := func(c Claims) string { s, _ := SignHS256(secret, c); return s }
	with := func(f func(*Claims)) Claims { c := good; f(&c); return c }
	noneTok := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"sub":"u1","exp":1900000000}`)) + "."

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"hs256 ok", hs(good), nil},
		{"rs256 pem ok", signAsym(t, "RS256", "", rsaKey, good), nil},
		{"es256 jwks ok", signAsym(t, "ES256", "ec1", ecKey, good), nil},
		{"es256 unknown key", signAsym(t, "ES256", "ec1", otherEC, good), ErrSignature},
		{"hs256 wrong secret", func() string { s, _ := SignHS256([]byte("other-secret-other-secret-xxxxxx"), good); return s }(), ErrSignature},
		{"alg none", noneTok, ErrSignature},
		{"expired", hs(with(func(c *Claims) { c.Expiry = now.Add(-time.Second).Unix() })), ErrExpired},
		{"no exp", hs(with(func(c *Claims) { c.Expiry = 0 })), ErrClaims},
		{"no sub", hs(with(func(c *Claims) { c.Subject = "" })), ErrClaims},
		{"unknown role", hs(with(func(c *Claims) { c.Role = "admin" })), ErrClaims},
		{"two parts", "a.b", ErrMalformed},
		{"garbage header", "!!.e30.", ErrMalformed},
		{"tampered payload", func() string {
			p := strings.Split(hs(good), ".")
			p[1] = b64.EncodeToString([]byte(`{"sub":"admin","exp":1900000000}`))
			return strings.Join(p, ".")
		}(), ErrSignature},
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
	if _, err := New(Options{}); err == nil {
		t.Fatal("New with no key: want error")
	}
	if _, err := New(Options{PublicKeysPEM: [][]byte{[]byte("not pem")}}); err == nil {
		t.Fatal("New with bad PEM: want error")
	}
	if _, err := New(Options{JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`)}); err == nil {
		t.Fatal("New with unsupported curve: want error")
	}
	if _, err := New(Options{JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`)}); err == nil {
		t.Fatal("New with a point off the curve: want error")
	}
}
