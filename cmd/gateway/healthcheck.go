package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/classgate/classgate/internal/config"
)

// healthcheckTimeout bounds one -healthcheck probe (connect + answer).
const healthcheckTimeout = 3 * time.Second

// probeAddr is the listen address -healthcheck probes: -listen, else
// CLASSGATE_SERVER__LISTEN (the container image sets it), else
// server.listen of the configuration. The first two need no valid
// configuration, so a probe never fails for a reason that does not stop
// the node (a secret only in a -config file the probe was not given).
func probeAddr(listen, cfgPath string, environ []string, over map[string]any) (string, error) {
	if listen != "" {
		return listen, nil
	}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "CLASSGATE_SERVER__LISTEN="); ok && v != "" {
			return v, nil
		}
	}
	cfg, err := config.Load(cfgPath, environ, over)
	if err != nil {
		return "", fmt.Errorf("healthcheck: %w", err)
	}
	return cfg.Server.Listen, nil
}

// probeURL returns the /healthz URL of a node listening on listen
// (server.listen): an unspecified host (0.0.0.0, ::, empty) is probed on
// the IPv4 loopback, the address a container's HEALTHCHECK can reach.
func probeURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("healthcheck: server.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// healthcheck probes the node's /healthz and returns nil when it answers
// 200. It is what `gateway -healthcheck` runs: a container image built
// FROM scratch has no shell or curl, so the binary is its own probe
// (the Containerfile's HEALTHCHECK).
func healthcheck(ctx context.Context, listen string, stdout io.Writer) error {
	url, err := probeURL(listen)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(stdout, "healthy:", url)
	return nil
}
