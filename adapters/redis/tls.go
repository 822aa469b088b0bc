package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/internal/fielderr"
)

// config builds the client TLS configuration, or nil when TLS is off. Its
// errors name the key at fault ("redis: tls.ca_file: …").
func (t TLSOptions) config() (*tls.Config, error) {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("redis: %w", fielderr.Errorf("tls."+key, format, args...))
	}
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" {
			return nil, bad("enabled", "must be true when other tls keys are set")
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, bad("ca_file", "%v", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, bad("ca_file", "%s holds no PEM certificate", t.CAFile)
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, bad("cert_file", "with key_file: %v", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertFile != "":
		return nil, bad("key_file", "required with cert_file")
	case t.KeyFile != "":
		return nil, bad("cert_file", "required with key_file")
	}
	return c, nil
}

// explain adds, to a failure to connect with o, what an operator should
// check when the cause is authentication or TLS rather than the network.
func explain(err error, o Options) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		opErr     *net.OpError
	)
	msg := err.Error()
	atSentinel := strings.Contains(msg, "all sentinels")
	switch {
	case atSentinel && strings.Contains(msg, "WRONGPASS"):
		return fmt.Errorf("authentication to the Sentinels failed: wrong username or password (store.redis.sentinel_username, store.redis.sentinel_password): %w", err)
	case atSentinel && strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("the Sentinels require authentication (store.redis.sentinel_password): %w", err)
	case goredis.HasErrorPrefix(err, "WRONGPASS"):
		return fmt.Errorf("authentication failed: wrong username or password (store.redis.username, store.redis.password): %w", err)
	case goredis.HasErrorPrefix(err, "NOAUTH"), strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("authentication required: the server needs a password (store.redis.password): %w", err)
	case goredis.HasErrorPrefix(err, "NOPERM"):
		return fmt.Errorf("the ACL user lacks a permission the gateway needs (commands, keys under the prefix, channels): %w", err)
	case errors.As(err, &unknownCA), errors.As(err, &verify) && errors.As(verify.Err, &unknownCA):
		return fmt.Errorf("TLS: the server's certificate is not signed by a trusted CA (store.redis.tls.ca_file, or the system pool when it is empty): %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS: the server's certificate is not valid for this name (store.redis.tls.server_name): %w", err)
	case errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("TLS: the server's certificate was refused: %w", err)
	case errors.As(err, &record):
		return fmt.Errorf("TLS: the server does not speak TLS on this port (store.redis.tls.enabled, addr): %w", err)
	case errors.As(err, &alert), strings.Contains(msg, "certificate required"):
		return fmt.Errorf("TLS: the server refused the handshake; it may require a client certificate (store.redis.tls.cert_file, key_file): %w", err)
	case !o.TLS.Enabled && (errors.Is(err, io.EOF) || errors.As(err, &opErr) && strings.Contains(msg, "connection reset")):
		return fmt.Errorf("the server closed the connection at once: does it expect TLS (store.redis.tls.enabled)? %w", err)
	case o.TLS.Enabled && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer to the TLS handshake: is the server up, and does it speak TLS on this port (addr, store.redis.tls.enabled)? %w", err)
	}
	return err
}
