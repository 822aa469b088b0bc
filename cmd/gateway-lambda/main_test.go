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

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/internal/config"
)

// TestLambdaSettings: the Lambda-only settings are lambda.* keys read
// through internal/config from CLASSGATE_LAMBDA__* variables, with the
// configuration's defaults, and reach the sender's options; bad values
// and unknown keys are errors naming the key.
func TestLambdaSettings(t *testing.T) {
	const secret = "CLASSGATE_AUTH__HS256_SECRET=test-secret-test-secret-test-secret-0"
	tests := []struct {
		name    string
		env     []string
		check   func(config.Lambda, awsapigw.SenderOptions) bool
		wantErr string
	}{
		{"defaults", []string{"PATH=/bin"}, func(l config.Lambda, so awsapigw.SenderOptions) bool {
			return l.Workers == 16 && l.PostBudget == 2*time.Second && l.SweepEvery == 30*time.Second && l.SweepLimit == 64 && l.CompileCache &&
				l.MetricsNamespace == "Classgate" && l.Order && l.OrderWait == 2*time.Second && l.OrderLease == 5*time.Second &&
				l.PostTimeout == awsapigw.DefaultPostTimeout && l.ExpiryEvery == time.Second && l.MetricsEvery == awsapigw.DefaultMetricsEvery && l.MetricsSamples == awsapigw.MaxSamples &&
				so.Workers == 16 && so.Budget == 2*time.Second && so.PostTimeout == awsapigw.DefaultPostTimeout && so.Order.Wait == 2*time.Second && so.Order.Lease == 5*time.Second
		}, ""},
		{"order keys", []string{"CLASSGATE_LAMBDA__ORDER=off", "CLASSGATE_LAMBDA__ORDER_WAIT=300ms", "CLASSGATE_LAMBDA__ORDER_LEASE=2s",
			"CLASSGATE_LAMBDA__POST_TIMEOUT=250ms", "CLASSGATE_LAMBDA__EXPIRY_EVERY=-1s", "CLASSGATE_LAMBDA__METRICS_EVERY=-1s"}, func(l config.Lambda, so awsapigw.SenderOptions) bool {
			return l.MetricsEvery < 0 && !l.Order && so.Order.Wait == 300*time.Millisecond && so.Order.Lease == 2*time.Second && so.PostTimeout == 250*time.Millisecond && l.ExpiryEvery < 0
		}, ""},
		{"bad order values", []string{"CLASSGATE_LAMBDA__ORDER=sometimes", "CLASSGATE_LAMBDA__ORDER_WAIT=0s"}, nil, "lambda.order"},
		{"zero order wait", []string{"CLASSGATE_LAMBDA__ORDER_WAIT=0s"}, nil, "lambda.order_wait: must be positive"},
		{"non-positive post timeout", []string{"CLASSGATE_LAMBDA__POST_TIMEOUT=0s"}, nil, "lambda.post_timeout: must be positive"},
		{"all keys", []string{"CLASSGATE_LAMBDA__ENDPOINT=http://127.0.0.1:1/s", "CLASSGATE_LAMBDA__WORKERS=4", "CLASSGATE_LAMBDA__POST_BUDGET=500ms",
			"CLASSGATE_LAMBDA__SWEEP_EVERY=-1s", "CLASSGATE_LAMBDA__SWEEP_LIMIT=8", "CLASSGATE_LAMBDA__COMPILE_CACHE=off",
			"CLASSGATE_LAMBDA__CACHE_SEED=/var/task/c", "CLASSGATE_LAMBDA__METRICS_NAMESPACE=X"}, func(l config.Lambda, so awsapigw.SenderOptions) bool {
			return so.Endpoint == "http://127.0.0.1:1/s" && so.Workers == 4 && so.Budget == 500*time.Millisecond && l.SweepEvery < 0 &&
				l.SweepLimit == 8 && !l.CompileCache && l.CacheSeed == "/var/task/c" && l.MetricsNamespace == "X"
		}, ""},
		{"unknown key", []string{"CLASSGATE_LAMBDA__WORKRES=4"}, nil, "lambda.workres: unknown key"},
		{"bad values", []string{"CLASSGATE_LAMBDA__WORKERS=0", "CLASSGATE_LAMBDA__POST_BUDGET=soon", "CLASSGATE_LAMBDA__COMPILE_CACHE=maybe"}, nil, "lambda.post_budget"},
		{"zero workers", []string{"CLASSGATE_LAMBDA__WORKERS=0"}, nil, "lambda.workers: must be positive"},
		{"bad secrets", []string{"CLASSGATE_LAMBDA__SECRETS=not json"}, nil, "lambda.secrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{secret, "CLASSGATE_STORE__KIND=redis", "CLASSGATE_LAMBDA__CONFIG="}, tt.env...)
			cfg, _, err := loadConfig(context.Background(), env, map[string]any{}, true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if so := senderOptions(cfg.Lambda); !tt.check(cfg.Lambda, so) {
				t.Fatalf("lambda = %+v, sender %+v", cfg.Lambda, so)
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
