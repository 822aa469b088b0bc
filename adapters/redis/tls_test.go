package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core/coretest"
)

// TestConformanceTLSAuth runs the whole store conformance suite (commits,
// history, pub/sub across two nodes, registry) over TLS with a client
// certificate, as an ACL user, against a redis-server that speaks only
// TLS and requires both.
func TestConformanceTLSAuth(t *testing.T) {
	pki := redistest.NewPKI(t, "conformance")
	srv := redistest.StartSecure(t, redistest.SecureOptions{PKI: pki, ClientCerts: true, Password: "default-secret",
		Users: map[string]string{"gateway": "gateway-secret"}})
	coretest.RunStore(t, factory(redis.Options{Addr: srv.Addr(), Username: "gateway", Password: "gateway-secret",
		TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}}))
}

// TestConnectTLSAuth: a store connects to a TLS + AUTH Redis with the
// right settings, and each wrong one fails at once with an error that
// names the problem and the key to check.
func TestConnectTLSAuth(t *testing.T) {
	pki := redistest.NewPKI(t, "good")
	other := redistest.NewPKI(t, "untrusted")
	tlsSrv := redistest.StartSecure(t, redistest.SecureOptions{PKI: pki, Password: "s3cret",
		Users: map[string]string{"gateway": "gw-secret"}})
	mtlsSrv := redistest.StartSecure(t, redistest.SecureOptions{PKI: pki, ClientCerts: true, Password: "s3cret"})
	plain := redistest.StartServer(t)
	ca := redis.TLSOptions{Enabled: true, CAFile: pki.CAFile}
	withCert := redis.TLSOptions{Enabled: true, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}

	tests := []struct {
		name    string
		o       redis.Options
		wantErr []string // substrings of the error; none = connects
	}{
		{"TLS + requirepass", redis.Options{Addr: tlsSrv.Addr(), Password: "s3cret", TLS: ca}, nil},
		{"TLS + ACL user", redis.Options{Addr: tlsSrv.Addr(), Username: "gateway", Password: "gw-secret", TLS: ca}, nil},
		{"TLS + server name", redis.Options{Addr: tlsSrv.Addr(), Password: "s3cret",
			TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile, ServerName: "localhost"}}, nil},
		{"mutual TLS", redis.Options{Addr: mtlsSrv.Addr(), Password: "s3cret", TLS: withCert}, nil},
		{"wrong password", redis.Options{Addr: tlsSrv.Addr(), Password: "nope", TLS: ca},
			[]string{"authentication failed", "store.redis.password", "WRONGPASS"}},
		{"wrong ACL password", redis.Options{Addr: tlsSrv.Addr(), Username: "gateway", Password: "s3cret", TLS: ca},
			[]string{"authentication failed", "store.redis.username"}},
		{"no password", redis.Options{Addr: tlsSrv.Addr(), TLS: ca},
			[]string{"authentication required", "store.redis.password"}},
		{"untrusted CA", redis.Options{Addr: tlsSrv.Addr(), Password: "s3cret", TLS: redis.TLSOptions{Enabled: true, CAFile: other.CAFile}},
			[]string{"not signed by a trusted CA", "store.redis.tls.ca_file"}},
		{"system pool does not trust a private CA", redis.Options{Addr: tlsSrv.Addr(), Password: "s3cret", TLS: redis.TLSOptions{Enabled: true}},
			[]string{"not signed by a trusted CA"}},
		{"wrong server name", redis.Options{Addr: tlsSrv.Addr(), Password: "s3cret",
			TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile, ServerName: "redis.example.com"}},
			[]string{"not valid for this name", "store.redis.tls.server_name"}},
		{"client certificate required", redis.Options{Addr: mtlsSrv.Addr(), Password: "s3cret", TLS: ca},
			[]string{"client certificate", "store.redis.tls.cert_file"}},
		{"plain TCP to a TLS port", redis.Options{Addr: tlsSrv.Addr(), Password: "s3cret"},
			[]string{"store.redis.tls.enabled"}},
		{"TLS to a plain port", redis.Options{Addr: plain.Addr(), TLS: ca},
			[]string{"speak TLS on this port", "store.redis.tls.enabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Prefix = redistest.Prefix(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := redis.New(ctx, tt.o)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("redis.New: %v", err)
				}
				defer s.Close()
				if err := s.Ping(ctx); err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("redis.New connected, want an error naming %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// The servers kept serving the right clients through the bad ones.
	if v, err := tlsSrv.Do("PING"); err != nil || v != "PONG" {
		t.Fatalf("TLS server after the failures: %v %v", v, err)
	}
}

// TestTLSOptionsValidate: TLS and Sentinel AUTH settings are checked with
// the rest of the configuration, naming the key at fault.
func TestTLSOptionsValidate(t *testing.T) {
	pki := redistest.NewPKI(t, "validate")
	tests := []struct {
		name   string
		o      redis.Options
		badKey string // "" = valid
	}{
		{"CA file", redis.Options{TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile}}, ""},
		{"system pool", redis.Options{TLS: redis.TLSOptions{Enabled: true}}, ""},
		{"client pair", redis.Options{TLS: redis.TLSOptions{Enabled: true, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}}, ""},
		{"sentinel ACL", redis.Options{Mode: "sentinel", Addrs: []string{"a:26379"}, MasterName: "m",
			SentinelUsername: "sn", SentinelPassword: "pw", TLS: redis.TLSOptions{Enabled: true}}, ""},
		{"missing CA file", redis.Options{TLS: redis.TLSOptions{Enabled: true, CAFile: pki.Dir + "/none.crt"}}, "tls.ca_file"},
		{"CA file not PEM", redis.Options{TLS: redis.TLSOptions{Enabled: true, CAFile: pki.ClientKey}}, "tls.ca_file"},
		{"cert without key", redis.Options{TLS: redis.TLSOptions{Enabled: true, CertFile: pki.ClientCert}}, "tls.key_file"},
		{"key without cert", redis.Options{TLS: redis.TLSOptions{Enabled: true, KeyFile: pki.ClientKey}}, "tls.cert_file"},
		{"key of another cert", redis.Options{TLS: redis.TLSOptions{Enabled: true, CertFile: pki.ClientCert, KeyFile: pki.ServerKey}}, "tls.cert_file"},
		{"tls keys while off", redis.Options{TLS: redis.TLSOptions{CAFile: pki.CAFile}}, "tls.enabled"},
		{"sentinel auth outside sentinel mode", redis.Options{SentinelPassword: "pw"}, "sentinel_password"},
		{"sentinel user outside sentinel mode", redis.Options{Mode: "cluster", Addrs: []string{"a:1"}, SentinelUsername: "u"}, "sentinel_username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if tt.badKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "redis: "+tt.badKey+":") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.badKey)
			}
		})
	}
}

// TestConformanceClusterTLSAuth runs the conformance suite on a Redis
// Cluster whose nodes speak only TLS (client and cluster bus) and
// require a password: the Cluster client follows the slots over TLS.
func TestConformanceClusterTLSAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	pki := redistest.NewPKI(t, "cluster")
	c := redistest.StartSecureCluster(t, 3, redistest.SecureOptions{PKI: pki, Password: "cluster-secret"})
	t.Run("wrong password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := redis.New(ctx, redis.Options{Mode: redis.ModeCluster, Addrs: c.Addrs(), Password: "nope", Prefix: redistest.Prefix(t),
			TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile}})
		if err == nil {
			s.Close()
			t.Fatal("connected with a wrong password")
		}
		if !strings.Contains(err.Error(), "authentication failed") {
			t.Fatalf("error %q does not say authentication failed", err)
		}
	})
	coretest.RunStore(t, factory(redis.Options{Mode: redis.ModeCluster, Addrs: c.Addrs(), Password: "cluster-secret",
		TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile}}))
}

// TestSentinelTLSAuth: with Sentinels and servers that speak only TLS,
// Sentinels that require their own ACL user and servers that require a
// password, the store finds the primary and passes the conformance
// suite; wrong Sentinel credentials fail at once with a clear error.
func TestSentinelTLSAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("sentinel start-up in -short mode")
	}
	pki := redistest.NewPKI(t, "sentinel")
	sn := redistest.StartSecureSentinel(t, 1, redistest.SecureOptions{PKI: pki, Password: "data-secret"}, "watcher", "watcher-secret")
	base := redis.Options{Mode: redis.ModeSentinel, Addrs: sn.Addrs(), MasterName: redistest.MasterName,
		Password: "data-secret", SentinelUsername: "watcher", SentinelPassword: "watcher-secret",
		TLS: redis.TLSOptions{Enabled: true, CAFile: pki.CAFile}}
	t.Run("wrong sentinel password", func(t *testing.T) {
		o := base
		o.SentinelPassword, o.Prefix = "nope", redistest.Prefix(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := redis.New(ctx, o)
		if err == nil {
			s.Close()
			t.Fatal("connected with a wrong sentinel password")
		}
		for _, w := range []string{"Sentinels failed", "store.redis.sentinel_password"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %q", err, w)
			}
		}
	})
	coretest.RunStore(t, factory(base))
}
