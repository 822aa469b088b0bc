package auth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// payloadOnly is a Signatures that accepts every token whose payload
// decodes: the claims rules are tested alone here; adapters/jwt tests them
// again behind real signatures (TestVerify, TestRegisteredClaims,
// FuzzVerify).
type payloadOnly struct{}

func (payloadOnly) Payload(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	return b64.DecodeString(parts[1])
}

func unsigned(c Claims) string {
	pb, _ := json.Marshal(c)
	return "e30." + b64.EncodeToString(pb) + "."
}

func TestNewNeedsSignatures(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without Signatures: want error")
	}
	var zero Verifier
	if _, err := zero.Verify(unsigned(Claims{Subject: "u", Expiry: time.Now().Add(time.Hour).Unix()})); !errors.Is(err, ErrSignature) {
		t.Fatalf("zero Verifier accepted a token: %v", err)
	}
}

// TestRules: the claims rules, with and without the optional ones.
func TestRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tests := []struct {
		name string
		o    Options
		c    Claims
		want error
	}{
		{"ok", Options{}, Claims{Subject: "u", Expiry: at(time.Hour)}, nil},
		{"default roles", Options{}, Claims{Subject: "u", Role: "student", Expiry: at(time.Hour)}, nil},
		{"role not configured", Options{Roles: []string{"teacher"}}, Claims{Subject: "u", Role: "student", Expiry: at(time.Hour)}, ErrClaims},
		{"expired", Options{}, Claims{Subject: "u", Expiry: at(-time.Second)}, ErrExpired},
		{"expired within leeway", Options{Leeway: time.Minute}, Claims{Subject: "u", Expiry: at(-time.Second)}, nil},
		{"nbf ahead", Options{}, Claims{Subject: "u", Expiry: at(time.Hour), NotBefore: at(time.Minute)}, ErrNotYetValid},
		{"lifetime", Options{MaxLifetime: time.Hour}, Claims{Subject: "u", Expiry: at(2 * time.Hour)}, ErrLifetime},
		{"issuer", Options{Issuer: "i"}, Claims{Subject: "u", Expiry: at(time.Hour), Issuer: "j"}, ErrClaims},
		{"audience", Options{Audience: "a"}, Claims{Subject: "u", Expiry: at(time.Hour), Audience: Audience{"b", "a"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.Signatures, o.Now = payloadOnly{}, func() time.Time { return now }
			v, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(unsigned(tt.c)); !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}
