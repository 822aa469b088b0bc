package redistest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"github.com/classgate/classgate/internal/resp"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PKI is a certificate authority made for one test, with a server
// certificate for 127.0.0.1 and localhost and a client certificate it
// signed, as PEM files in Dir.
type PKI struct {
	Dir                   string
	CAFile                string // the CA's certificate
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	Pool                  *x509.CertPool // holds the CA
	clientPair            tls.Certificate
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
}

// NewPKI generates a CA and the certificates it signs (ECDSA P-256, valid
// for a day), named name in their subjects.
func NewPKI(t testing.TB, name string) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key")}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("redistest: key: %v", err)
		}
		return k
	}
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatalf("redistest: write %s: %v", path, err)
		}
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		return n
	}
	now := time.Now()
	p.caKey = key()
	ca := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("redistest: CA certificate: %v", err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	write(p.CAFile, "CERTIFICATE", der)
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.caCert)
	leaf := func(certFile, keyFile, cn string, usage []x509.ExtKeyUsage, server bool) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &k.PublicKey, p.caKey)
		if err != nil {
			t.Fatalf("redistest: certificate %s: %v", cn, err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(certFile, "CERTIFICATE", der)
		write(keyFile, "EC PRIVATE KEY", kd)
	}
	// Servers are clients too, of each other (cluster bus, replication).
	leaf(p.ServerCert, p.ServerKey, "redis-server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true)
	leaf(p.ClientCert, p.ClientKey, "classgate", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false)
	if p.clientPair, err = tls.LoadX509KeyPair(p.ClientCert, p.ClientKey); err != nil {
		t.Fatalf("redistest: client pair: %v", err)
	}
	return p
}

// SecureOptions configure StartSecure.
type SecureOptions struct {
	// PKI, when set, makes the server speak only TLS (no plain port),
	// with PKI's server certificate.
	PKI *PKI
	// ClientCerts makes the server require a client certificate signed by
	// PKI's CA (tls-auth-clients yes); otherwise none is asked for.
	ClientCerts bool
	// Password is the default user's password (requirepass).
	Password string
	// Users are ACL users, name → password, allowed every command, key
	// and channel.
	Users map[string]string
}

// StartSecure starts a redis-server with TLS and/or authentication and
// waits until it answers PING. The harness's own connections (Do, Info)
// use TLS with PKI's client certificate and authenticate with Password.
func StartSecure(t testing.TB, o SecureOptions, extra ...string) *Server {
	t.Helper()
	return startSecure(t, FreePort(t, false), o, extra...)
}

func startSecure(t testing.TB, port int, o SecureOptions, extra ...string) *Server {
	t.Helper()
	bin, _ := Binaries(t)
	dir := t.TempDir()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log")}
	if o.PKI != nil {
		auth := "no"
		if o.ClientCerts {
			auth = "yes"
		}
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", o.PKI.ServerCert, "--tls-key-file", o.PKI.ServerKey,
			"--tls-ca-cert-file", o.PKI.CAFile, "--tls-auth-clients", auth)
	}
	if o.Password != "" {
		args = append(args, "--requirepass", o.Password)
	}
	for name, pw := range o.Users {
		args = append(args, "--user", name, "on", ">"+pw, "~*", "&*", "+@all")
	}
	s := &Server{t: t, port: port, dir: dir, args: append(args, extra...)}
	s.dialSecure = secureDial(s, o.PKI, "", o.Password)
	s.start(bin)
	t.Cleanup(s.Kill)
	return s
}

// StartSecureCluster is StartCluster with every node started as
// StartSecure does (the cluster bus uses TLS too when o.PKI is set).
func StartSecureCluster(t testing.TB, masters int, o SecureOptions) *Cluster {
	t.Helper()
	_, cli := Binaries(t)
	c := &Cluster{}
	var addrs []string
	extra := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}
	if o.PKI != nil {
		extra = append(extra, "--tls-cluster", "yes")
	}
	if o.Password != "" {
		extra = append(extra, "--masterauth", o.Password)
	}
	for range masters {
		s := startSecure(t, FreePort(t, true), o, extra...)
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if o.PKI != nil {
		args = append(args, "--tls", "--cacert", o.PKI.CAFile, "--cert", o.PKI.ClientCert, "--key", o.PKI.ClientKey)
	}
	if o.Password != "" {
		args = append(args, "-a", o.Password, "--no-auth-warning")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*startTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s\n%s", err, out, c.Nodes[0].Log())
	}
	WaitFor(t, 3*startTimeout, "cluster_state:ok on every node", func() bool {
		for _, s := range c.Nodes {
			if s.Info("cluster-info", "cluster_state") != "ok" ||
				s.Info("cluster-info", "cluster_known_nodes") != strconv.Itoa(masters) {
				return false
			}
		}
		return true
	})
	return c
}

// secureDial returns the harness's dialer for s: TLS with pki's client
// certificate when pki is set, then AUTH [user] password when password is.
func secureDial(s *Server, pki *PKI, user, password string) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		var c net.Conn
		var err error
		d := &net.Dialer{Timeout: time.Second}
		if pki != nil {
			c, err = tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{RootCAs: pki.Pool,
				Certificates: []tls.Certificate{pki.clientPair}, MinVersion: tls.VersionTLS12})
		} else {
			c, err = d.Dial("tcp", s.Addr())
		}
		if err != nil || password == "" {
			return c, err
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		args := []string{"AUTH", password}
		if user != "" {
			args = []string{"AUTH", user, password}
		}
		if err := resp.WriteCommand(c, args...); err != nil {
			c.Close()
			return nil, err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			c.Close()
			return nil, fmt.Errorf("redistest: AUTH: %q %v", line, err)
		}
		return c, nil
	}
}

// StartSecureSentinel is StartSentinel with the primary and replicas
// started as StartSecure does (replication over TLS, authenticated) and
// Sentinels that speak only TLS when o.PKI is set and require the ACL
// user sentinelUser with sentinelPassword (they use it among themselves
// too).
func StartSecureSentinel(t testing.TB, replicas int, o SecureOptions, sentinelUser, sentinelPassword string) *Sentinel {
	t.Helper()
	bin, _ := Binaries(t)
	var repl []string
	if o.PKI != nil {
		repl = append(repl, "--tls-replication", "yes")
	}
	if o.Password != "" {
		repl = append(repl, "--masterauth", o.Password)
	}
	sn := &Sentinel{t: t, Primary: StartSecure(t, o, repl...)}
	for range replicas {
		r := StartSecure(t, o, append(repl, "--replicaof", "127.0.0.1", strconv.Itoa(sn.Primary.Port()))...)
		WaitFor(t, startTimeout, "replica link up", func() bool {
			return r.Info("replication", "master_link_status") == "up"
		})
		sn.Replicas = append(sn.Replicas, r)
	}
	for range 3 {
		port := FreePort(t, false)
		dir := t.TempDir()
		var b strings.Builder
		fmt.Fprintf(&b, "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n", port, dir, filepath.Join(dir, "sentinel.log"))
		if o.PKI != nil {
			auth := "no"
			if o.ClientCerts {
				auth = "yes"
			}
			fmt.Fprintf(&b, "port 0\ntls-port %d\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients %s\ntls-replication yes\n",
				port, o.PKI.ServerCert, o.PKI.ServerKey, o.PKI.CAFile, auth)
		}
		fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			MasterName, sn.Primary.Port(), MasterName, MasterName, MasterName)
		if o.Password != "" {
			fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", MasterName, o.Password)
		}
		if sentinelPassword != "" {
			fmt.Fprintf(&b, "user %s on >%s ~* &* +@all\nsentinel sentinel-user %s\nsentinel sentinel-pass %s\n",
				sentinelUser, sentinelPassword, sentinelUser, sentinelPassword)
		}
		conf := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			t.Fatalf("redistest: sentinel config: %v", err)
		}
		s := &Server{t: t, port: port, dir: dir, args: []string{conf, "--sentinel"}}
		s.dialSecure = secureDial(s, o.PKI, sentinelUser, sentinelPassword)
		s.start(bin)
		t.Cleanup(s.Kill)
		sn.Sentinels = append(sn.Sentinels, s)
	}
	sn.waitSettled(t, replicas)
	return sn
}
