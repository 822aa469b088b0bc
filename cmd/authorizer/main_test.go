package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/classgate/classgate/core/auth"
)

// TestAuthSettingsReachTheAuthorizer: the authorizer applies the auth.*
// keys as the standalone gateway does (iss, aud, lifetime, nbf).
func TestAuthSettingsReachTheAuthorizer(t *testing.T) {
	secret := "authorizer-test-secret-0123456789abcdef"
	a, err := build([]string{"CLASSGATE_AUTH__HS256_SECRET=" + secret, "CLASSGATE_AUTH__ISSUER=lms", "CLASSGATE_AUTH__AUDIENCE=classgate",
		"CLASSGATE_AUTH__MAX_TOKEN_LIFETIME=1h", "CLASSGATE_LAMBDA__AUTHORIZER_DENY=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ok := auth.Claims{Subject: "u", Expiry: now.Add(30 * time.Minute).Unix(), Issuer: "lms", Audience: auth.Audience{"classgate"}}
	with := func(f func(*auth.Claims)) auth.Claims { c := ok; f(&c); return c }
	tests := []struct {
		name   string
		claims auth.Claims
		allow  bool
	}{
		{"all good", ok, true},
		{"too long", with(func(c *auth.Claims) { c.Expiry = now.Add(2 * time.Hour).Unix() }), false},
		{"not yet valid", with(func(c *auth.Claims) { c.NotBefore = now.Add(10 * time.Minute).Unix() }), false},
		{"other issuer", with(func(c *auth.Claims) { c.Issuer = "evil" }), false},
		{"other audience", with(func(c *auth.Claims) { c.Audience = auth.Audience{"x"} }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _ := auth.SignHS256([]byte(secret), tt.claims)
			_, err := a.Authorize(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: "arn", QueryStringParameters: map[string]string{"token": tok}})
			if (err == nil) != tt.allow {
				t.Fatalf("Authorize = %v, want allow=%v", err, tt.allow)
			}
		})
	}
}
