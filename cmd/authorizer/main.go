package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/internal/config"
	"github.com/classgate/classgate/internal/fielderr"
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
	// lambda.secrets, lambda.secrets_endpoint and lambda.authorizer_deny
	// are configuration keys like any other (CLASSGATE_LAMBDA__SECRETS …):
	// read once for the secrets, then loaded with them.
	pre, err := config.Read("", environ, nil)
	if err != nil {
		return nil, err
	}
	var refs awsapigw.SecretRefs
	if pre.Lambda.Secrets != "" {
		// Secrets Manager references resolved at init (see
		// awsapigw.SecretRefs), e.g. the token secret.
		if refs, err = awsapigw.ParseSecretRefs(pre.Lambda.Secrets); err != nil {
			return nil, &fielderr.Error{Key: "lambda.secrets", Err: err}
		}
	}
	over, err := awsapigw.ResolveSecrets(context.Background(), refs, pre.Lambda.SecretsEndpoint)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load("", environ, over)
	if err != nil {
		return nil, err
	}
	deny := cfg.Lambda.AuthorizerDeny
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	// The same auth.* settings, read the same way, as the standalone
	// gateway: iss, aud and the maximum lifetime included.
	o, err := cfg.Auth.VerifierOptions()
	if err != nil {
		return nil, err
	}
	v, err := jwt.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return awsapigw.NewAuthorizer(awsapigw.AuthorizerOptions{Verifier: v, Deny: deny, Logger: log})
}
