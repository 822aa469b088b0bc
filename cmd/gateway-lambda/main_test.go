package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseLambdaEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		check   func(lambdaEnv) bool
		rest    int
		wantErr string
	}{
		{"defaults", []string{"PATH=/bin"}, func(le lambdaEnv) bool {
			return le.Workers == 16 && le.PostBudget == 2*time.Second && le.SweepEvery == 30*time.Second && le.CompileCache && le.Namespace == "Classgate" &&
				le.Order && le.OrderWait == 2*time.Second && le.OrderLease == 5*time.Second && le.PostTimeout == time.Second && le.ExpiryEvery == time.Second && le.MetricsEvery == time.Minute &&
				le.MetricsSamples == 500
		}, 1, ""},
		{"order keys", []string{"CLASSGATE_LAMBDA__ORDER=off", "CLASSGATE_LAMBDA__ORDER_WAIT=300ms", "CLASSGATE_LAMBDA__ORDER_LEASE=2s",
			"CLASSGATE_LAMBDA__POST_TIMEOUT=250ms", "CLASSGATE_LAMBDA__EXPIRY_EVERY=-1s", "CLASSGATE_LAMBDA__METRICS_EVERY=-1s", "CLASSGATE_LAMBDA__METRICS_SAMPLES=0"}, func(le lambdaEnv) bool {
			return le.MetricsEvery < 0 && le.MetricsSamples == 0 && !le.Order && le.OrderWait == 300*time.Millisecond && le.OrderLease == 2*time.Second && le.PostTimeout == 250*time.Millisecond && le.ExpiryEvery < 0
		}, 0, ""},
		{"bad order values", []string{"CLASSGATE_LAMBDA__ORDER=sometimes", "CLASSGATE_LAMBDA__ORDER_WAIT=0s"}, nil, 0, `ORDER: must be "on" or "off"`},
		{"non-positive post timeout", []string{"CLASSGATE_LAMBDA__POST_TIMEOUT=0s"}, nil, 0, "POST_TIMEOUT: must be positive"},
		{"all keys", []string{"CLASSGATE_LAMBDA__ENDPOINT=http://127.0.0.1:1/s", "CLASSGATE_LAMBDA__WORKERS=4", "CLASSGATE_LAMBDA__POST_BUDGET=500ms",
			"CLASSGATE_LAMBDA__SWEEP_EVERY=-1s", "CLASSGATE_LAMBDA__SWEEP_LIMIT=8", "CLASSGATE_LAMBDA__COMPILE_CACHE=off",
			"CLASSGATE_LAMBDA__CACHE_SEED=/var/task/c", "CLASSGATE_LAMBDA__METRICS_NAMESPACE=X", "CLASSGATE_AUTH__HS256_SECRET=s"}, func(le lambdaEnv) bool {
			return le.Endpoint == "http://127.0.0.1:1/s" && le.Workers == 4 && le.PostBudget == 500*time.Millisecond && le.SweepEvery < 0 &&
				le.SweepLimit == 8 && !le.CompileCache && le.CacheSeed == "/var/task/c" && le.Namespace == "X"
		}, 1, ""},
		{"negative metric samples", []string{"CLASSGATE_LAMBDA__METRICS_SAMPLES=-5"}, nil, 0, "METRICS_SAMPLES: must not be negative"},
		{"unknown key", []string{"CLASSGATE_LAMBDA__WORKRES=4"}, nil, 0, "CLASSGATE_LAMBDA__WORKRES: unknown key"},
		{"bad values", []string{"CLASSGATE_LAMBDA__WORKERS=0", "CLASSGATE_LAMBDA__POST_BUDGET=soon", "CLASSGATE_LAMBDA__COMPILE_CACHE=maybe"}, nil, 0, "WORKERS: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le, rest, err := parseLambdaEnv(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(le) || len(rest) != tt.rest {
				t.Fatalf("le = %+v, rest %v, err %v", le, rest, err)
			}
		})
	}
}

func TestRunRefusesNonRedisStore(t *testing.T) {
	var out bytes.Buffer
	env := []string{"CLASSGATE_AUTH__HS256_SECRET=test-secret-test-secret-test-secret-0", "CLASSGATE_STORE__KIND=memory", "CLASSGATE_LAMBDA__CONFIG="}
	_, err := run(context.Background(), []string{"-check"}, env, &out, time.Now())
	if err == nil || !strings.Contains(err.Error(), "needs redis") {
		t.Fatalf("err = %v", err)
	}
}

// TestSecretsFromSecretsManager: with CLASSGATE_LAMBDA__SECRETS the token
// secret comes from Secrets Manager (a loopback fake answering
// GetSecretValue), never from a plaintext variable; without it the
// configuration lacks the secret and init fails.
func TestSecretsFromSecretsManager(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "eu-west-1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			http.Error(w, "{}", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"SecretString":"{\"hs256_secret\":\"from-secrets-manager-0123456789abcdef\"}"}`)
	}))
	defer srv.Close()
	base := []string{"CLASSGATE_STORE__KIND=redis", "CLASSGATE_LAMBDA__CONFIG=", "CLASSGATE_LAMBDA__SECRETS_ENDPOINT=" + srv.URL}
	tests := []struct {
		name    string
		env     []string
		wantErr string
	}{
		{"resolved", []string{`CLASSGATE_LAMBDA__SECRETS={"auth.hs256_secret":"arn:aws:secretsmanager:eu-west-1:1:secret:tok#hs256_secret"}`}, ""},
		{"no secret at all", nil, "hs256_secret"},
		{"key missing in the secret", []string{`CLASSGATE_LAMBDA__SECRETS={"auth.hs256_secret":"arn:x#nope"}`}, `no string "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := run(context.Background(), []string{"-check"}, append(append([]string{}, base...), tt.env...), &out, time.Now())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), "configuration OK") {
				t.Fatalf("err %v, out %s", err, out.String())
			}
		})
	}
}
