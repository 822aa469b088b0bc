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
	"github.com/classgate/classgate/adapters/awsapigw/defaults"
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
			return l.Workers == defaults.Workers && l.PostBudget == defaults.PostBudget && l.SweepEvery == defaults.SweepEvery && l.SweepLimit == defaults.SweepLimit && l.CompileCache &&
				l.MetricsNamespace == "Classgate" && l.Order && l.OrderWait == defaults.OrderWait && l.OrderLease == defaults.OrderLease &&
				l.PostTimeout == defaults.PostTimeout && l.ExpiryEvery == defaults.ExpiryEvery && l.MetricsEvery == defaults.MetricsEvery && l.MetricsSamples == defaults.MetricsSamples &&
				so.Workers == defaults.Workers && so.Budget == defaults.PostBudget && so.PostTimeout == defaults.PostTimeout && so.Order.Wait == defaults.OrderWait && so.Order.Lease == defaults.OrderLease
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

// TestLambdaDefaultsWrittenOnce: every lambda.* key whose component has a
// default for a zero option takes adapters/awsapigw/defaults' constant:
// in config.Defaults, in the configuration loaded with no lambda.* key
// set, and in the options the function builds its Sender and Handler
// with (TestZeroOptionsTakeDefaults in adapters/awsapigw shows the zero
// options take the same constants). The other lambda.* keys are listed,
// so that a new key is put in one list or the other.
func TestLambdaDefaultsWrittenOnce(t *testing.T) {
	env := []string{"CLASSGATE_AUTH__HS256_SECRET=test-secret-test-secret-test-secret-0", "CLASSGATE_STORE__KIND=redis", "CLASSGATE_LAMBDA__CONFIG="}
	cfg, _, err := loadConfig(context.Background(), env, map[string]any{}, true)
	if err != nil {
		t.Fatal(err)
	}
	l, so, ho := cfg.Lambda, senderOptions(cfg.Lambda), handlerOptions(cfg.Lambda)
	tests := []struct {
		key          string
		want         any // the constant
		loaded, used any // config.Lambda's field, the Sender's or Handler's option
	}{
		{"lambda.workers", defaults.Workers, l.Workers, so.Workers},
		{"lambda.post_budget", defaults.PostBudget, l.PostBudget, so.Budget},
		{"lambda.post_timeout", defaults.PostTimeout, l.PostTimeout, so.PostTimeout},
		{"lambda.order_wait", defaults.OrderWait, l.OrderWait, so.Order.Wait},
		{"lambda.order_lease", defaults.OrderLease, l.OrderLease, so.Order.Lease},
		{"lambda.expiry_every", defaults.ExpiryEvery, l.ExpiryEvery, ho.ExpiryEvery},
		{"lambda.sweep_every", defaults.SweepEvery, l.SweepEvery, ho.SweepEvery},
		{"lambda.sweep_limit", defaults.SweepLimit, l.SweepLimit, ho.SweepLimit},
		{"lambda.metrics_every", defaults.MetricsEvery, l.MetricsEvery, ho.MetricsEvery},
		// The EMF's bound: run passes it to SetSamples.
		{"lambda.metrics_samples", defaults.MetricsSamples, l.MetricsSamples, l.MetricsSamples},
	}
	noComponentDefault := map[string]bool{
		"lambda.config": true, "lambda.endpoint": true, "lambda.order": true, "lambda.metrics_namespace": true,
		"lambda.compile_cache": true, "lambda.cache_seed": true, "lambda.secrets": true, "lambda.secrets_endpoint": true,
		"lambda.authorizer_deny": true,
	}
	d := config.Defaults()
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.key] = true
		t.Run(tt.key, func(t *testing.T) {
			stated := d[tt.key]
			if want, ok := tt.want.(time.Duration); ok {
				s, _ := stated.(string)
				if got, err := time.ParseDuration(s); err != nil || got != want {
					t.Errorf("config.Defaults()[%q] = %v, want %v", tt.key, stated, want)
				}
			} else if stated != tt.want {
				t.Errorf("config.Defaults()[%q] = %v, want %v", tt.key, stated, tt.want)
			}
			if tt.loaded != tt.want || tt.used != tt.want {
				t.Errorf("%s: loaded %v, built with %v, want %v", tt.key, tt.loaded, tt.used, tt.want)
			}
		})
	}
	for k := range d {
		if strings.HasPrefix(k, "lambda.") && !covered[k] && !noComponentDefault[k] {
			t.Errorf("%s: a new lambda.* key; add it to this test's table (its default is a component's constant) or to noComponentDefault", k)
		}
	}
	for k := range noComponentDefault {
		if _, ok := d[k]; !ok {
			t.Errorf("%s is listed but config.Defaults has no such key", k)
		}
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
