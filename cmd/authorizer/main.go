package main

import (
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
		fmt.Fprintf(os.Stdout, `{"level":"ERROR","msg":"init failed","err":%q}`+"\n", err.Error())
		os.Exit(1)
	}
	a.Start()
}

func build(environ []string, stdout io.Writer) (*awsapigw.Authorizer, error) {
	deny := false
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
		}
		// Other Lambda-only keys belong to gateway-lambda; ignore them
		// so both functions can share one environment.
	}
	cfg, err := config.Load("", rest, nil)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	o := auth.Options{HS256Secret: []byte(cfg.Auth.HS256Secret), Roles: cfg.Auth.Roles, Leeway: cfg.Auth.Leeway}
	for _, p := range cfg.Auth.PublicKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("auth.public_keys: %w", err)
		}
		o.PublicKeysPEM = append(o.PublicKeysPEM, b)
	}
	if cfg.Auth.JWKSFile != "" {
		b, err := os.ReadFile(cfg.Auth.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwks_file: %w", err)
		}
		o.JWKS = b
	}
	v, err := auth.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return awsapigw.NewAuthorizer(awsapigw.AuthorizerOptions{Verifier: v, Deny: deny, Logger: log})
}
