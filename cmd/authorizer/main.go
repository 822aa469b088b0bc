package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/core/auth"
	"github.com/classgate/classgate/internal/config"
)

func main() {
	a, err := build(os.Environ(), os.Stdout)
	if err != nil {
		// A JSON log line (Go's %q is not JSON for every string).
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("init failed", "err", err.Error())
		os.Exit(1)
	}
	a.Start()
}

func build(environ []string, stdout io.Writer) (*awsapigw.Authorizer, error) {
	deny := false
	var refs awsapigw.SecretRefs
	endpoint := ""
	var rest []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "CLASSGATE_LAMBDA__") {
			rest = append(rest, kv)
			continue
		}
		switch k {
		case "CLASSGATE_LAMBDA__AUTHORIZER_DENY":
			deny = v == "true" || v == "1"
		case "CLASSGATE_LAMBDA__SECRETS":
			// Secrets Manager references resolved at init (see
			// awsapigw.SecretRefs), e.g. the token secret.
			var err error
			if refs, err = awsapigw.ParseSecretRefs(v); err != nil {
				return nil, err
			}
		case "CLASSGATE_LAMBDA__SECRETS_ENDPOINT":
			endpoint = v
		}
		// Other Lambda-only keys belong to gateway-lambda; ignore them
		// so both functions can share one environment.
	}
	over, err := awsapigw.ResolveSecrets(context.Background(), refs, endpoint)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load("", rest, over)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	// The same auth.* settings, read the same way, as the standalone
	// gateway: iss, aud and the maximum lifetime included.
	o, err := cfg.Auth.VerifierOptions()
	if err != nil {
		return nil, err
	}
	v, err := auth.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return awsapigw.NewAuthorizer(awsapigw.AuthorizerOptions{Verifier: v, Deny: deny, Logger: log})
}
