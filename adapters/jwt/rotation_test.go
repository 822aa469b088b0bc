package jwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/core/auth"
)

// jwkOf is the public JWK of an EC P-256 key.
func jwkOf(t *testing.T, kid string, k *ecdsa.PrivateKey) map[string]string {
	t.Helper()
	pt, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig", "alg": "ES256",
		"x": b64.EncodeToString(pt[1:33]), "y": b64.EncodeToString(pt[33:])}
}

// TestJWKSURLRotation: keys fetched from a JWKS URL (a loopback server)
// verify tokens; the set is cached (verifying does not fetch it again);
// when the issuer rotates to a new key, a token naming the new kid makes
// the verifier fetch the set again and is accepted, and the retired key's
// tokens are refused from then on.
func TestJWKSURLRotation(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var (
		mu      sync.Mutex
		keys    = []map[string]string{jwkOf(t, "k1", oldKey)}
		fetches atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Unix(1_800_000_000, 0)
	v, err := jwt.New(jwt.Options{JWKSURLs: []string{srv.URL}, Context: ctx, JWKSUnknownKIDEvery: time.Millisecond,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := auth.Claims{Subject: "u1", Expiry: now.Add(time.Hour).Unix()}
	oldTok := signAsym(t, "ES256", "k1", oldKey, c)
	for range 5 {
		if _, err := v.Verify(oldTok); err != nil {
			t.Fatalf("token of the current key: %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches of the key set for 5 verifications, want 1 (cached)", n)
	}

	mu.Lock()
	keys = []map[string]string{jwkOf(t, "k2", newKey)} // the issuer rotates
	mu.Unlock()
	if _, err := v.Verify(signAsym(t, "ES256", "k2", newKey, c)); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want 2", n)
	}
	if _, err := v.Verify(oldTok); !errors.Is(err, auth.ErrSignature) {
		t.Fatalf("token of the retired key: %v, want %v", err, auth.ErrSignature)
	}
}

// TestJWKSURLUnreachable: a JWKS URL that does not answer fails New (a
// verifier that could accept nothing is not built).
func TestJWKSURLUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	if _, err := jwt.New(jwt.Options{JWKSURLs: []string{srv.URL}}); err == nil {
		t.Fatal("New with an unreachable JWKS URL: want an error")
	}
}
