package awsapigw

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeSecrets is a loopback Secrets Manager answering GetSecretValue.
func fakeSecrets(t *testing.T, secrets map[string]string) (url string, calls func() int) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "eu-west-1")
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") ||
			!strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/secretsmanager/aws4_request") {
			http.Error(w, `{"__type":"AccessDeniedException"}`, http.StatusBadRequest)
			return
		}
		var in struct{ SecretId string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &in)
		s, ok := secrets[in.SecretId]
		if !ok {
			http.Error(w, `{"__type":"ResourceNotFoundException"}`, http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"ARN": in.SecretId, "SecretString": s})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestResolveSecrets(t *testing.T) {
	url, calls := fakeSecrets(t, map[string]string{
		"arn:tok":   `{"hs256_secret":"s3cret-s3cret-s3cret-s3cret-s3cret-00"}`,
		"arn:redis": `{"token":"redis-auth-token","other":"x"}`,
		"arn:notjs": `plain`,
	})
	tests := []struct {
		name    string
		refs    string
		want    map[string]any
		wantErr string
	}{
		{"two secrets", `{"auth.hs256_secret":"arn:tok#hs256_secret","store.redis.password":"arn:redis#token"}`,
			map[string]any{"auth.hs256_secret": "s3cret-s3cret-s3cret-s3cret-s3cret-00", "store.redis.password": "redis-auth-token"}, ""},
		{"missing key", `{"store.redis.password":"arn:redis#nope"}`, nil, `has no string "nope"`},
		{"unknown secret", `{"auth.hs256_secret":"arn:gone#k"}`, nil, "HTTP 400"},
		{"not JSON inside", `{"auth.hs256_secret":"arn:notjs#k"}`, nil, "not a JSON object"},
		{"bad reference", `{"auth.hs256_secret":"arn:tok"}`, nil, "is not ARN#key"},
		{"not an object", `["arn:tok#k"]`, nil, "want a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs, err := ParseSecretRefs(tt.refs)
			var got map[string]any
			if err == nil {
				got, err = ResolveSecrets(context.Background(), refs, url)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v", got)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	if calls() == 0 {
		t.Fatal("no GetSecretValue reached the fake")
	}
}
