package awsapigw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// SecretRefs maps configuration keys ("auth.hs256_secret",
// "store.redis.password") to Secrets Manager references "ARN#jsonkey":
// the secret's SecretString is a JSON object and jsonkey one of its keys.
// cmd/gateway-lambda and cmd/authorizer read it from
// CLASSGATE_LAMBDA__SECRETS (a JSON object) and resolve it at init, so no
// secret is ever a plaintext environment variable.
type SecretRefs map[string]string

// ParseSecretRefs decodes CLASSGATE_LAMBDA__SECRETS.
func ParseSecretRefs(s string) (SecretRefs, error) {
	var refs SecretRefs
	if err := json.Unmarshal([]byte(s), &refs); err != nil {
		return nil, fmt.Errorf("awsapigw: secrets: want a JSON object of config key → \"ARN#key\": %w", err)
	}
	for k, ref := range refs {
		if arn, key, ok := strings.Cut(ref, "#"); !ok || arn == "" || key == "" {
			return nil, fmt.Errorf("awsapigw: secrets: %s: %q is not ARN#key", k, ref)
		}
	}
	return refs, nil
}

// ResolveSecrets fetches every referenced secret once (GetSecretValue,
// SigV4-signed with the function's role) and returns the configuration
// overrides. endpoint is the Secrets Manager endpoint ("" derives
// https://secretsmanager.REGION.amazonaws.com).
func ResolveSecrets(ctx context.Context, refs SecretRefs, endpoint string) (map[string]any, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("awsapigw: secrets: load AWS config: %w", err)
	}
	if endpoint == "" {
		endpoint = "https://secretsmanager." + cfg.Region + ".amazonaws.com"
	}
	fetched := map[string]map[string]any{}
	out := map[string]any{}
	for k, ref := range refs {
		arn, key, _ := strings.Cut(ref, "#")
		doc, ok := fetched[arn]
		if !ok {
			s, err := getSecret(ctx, cfg, endpoint, arn)
			if err != nil {
				return nil, fmt.Errorf("awsapigw: secrets: %s: %w", k, err)
			}
			if err := json.Unmarshal([]byte(s), &doc); err != nil {
				return nil, fmt.Errorf("awsapigw: secrets: %s: SecretString of %s is not a JSON object", k, arn)
			}
			fetched[arn] = doc
		}
		v, ok := doc[key].(string)
		if !ok || v == "" {
			return nil, fmt.Errorf("awsapigw: secrets: %s: %s has no string %q", k, arn, key)
		}
		out[k] = v
	}
	return out, nil
}

// getSecret is Secrets Manager's GetSecretValue (JSON 1.1 protocol).
func getSecret(ctx context.Context, cfg aws.Config, endpoint, arn string) (string, error) {
	body, _ := json.Marshal(map[string]string{"SecretId": arn})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "secretsmanager", cfg.Region, time.Now()); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GetSecretValue %s: HTTP %d %s", arn, resp.StatusCode, b)
	}
	var v struct{ SecretString string }
	if err := json.Unmarshal(b, &v); err != nil || v.SecretString == "" {
		return "", fmt.Errorf("GetSecretValue %s: no SecretString", arn)
	}
	return v.SecretString, nil
}
