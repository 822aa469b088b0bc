package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// keyCase is one configuration key: a value to set (as the environment
// or a file writes it) and what it decodes to, and a value Validate or the
// decoder refuses naming the key. extra are CLASSGATE_* settings (without
// the prefix) the key needs to be checked at all (e.g. store.kind: redis
// for store.redis.*). set == "": no valid override to try; bad == "": no
// invalid value.
type keyCase struct {
	key   string
	extra []string
	set   string
	want  any
	bad   string
}

var keyCases = []keyCase{
	{key: "node.id", set: "node-a", want: "node-a"},
	{key: "server.listen", set: "127.0.0.1:9000", want: "127.0.0.1:9000", bad: "nowhere"},
	{key: "server.allowed_origins", set: "a.example,*.b.example", want: []string{"a.example", "*.b.example"}},
	{key: "server.read_limit", extra: []string{"LIMITS__MAX_MESSAGE_BYTES=1024"}, set: "4096", want: int64(4096), bad: "100"},
	{key: "server.send_queue", set: "8", want: 8, bad: "0"},
	{key: "server.write_timeout", set: "3s", want: 3 * time.Second, bad: "0s"},
	{key: "server.ping_interval", set: "-1s", want: -time.Second, bad: "0s"},
	{key: "server.ping_interval", set: "5s", want: 5 * time.Second, bad: "soon"},
	{key: "server.shed_after", set: "-1s", want: -time.Second, bad: "0s"},
	{key: "server.shed_after", set: "50ms", want: 50 * time.Millisecond, bad: "later"},
	{key: "server.max_connections", set: "5000", want: 5000, bad: "-1"},
	{key: "server.max_connections_per_user", set: "0", want: 0, bad: "-2"},
	{key: "server.idle_timeout", set: "5s", want: 5 * time.Second, bad: "0s"},
	{key: "server.read_header_timeout", set: "5s", want: 5 * time.Second, bad: "0s"},
	{key: "server.shutdown_timeout", set: "5s", want: 5 * time.Second, bad: "0s"},
	{key: "server.io_uring", set: "false", want: false, bad: "maybe"},
	{key: "auth.hs256_secret", set: "another-secret-of-32-characters!!", want: "another-secret-of-32-characters!!", bad: "short"},
	{key: "auth.public_keys", set: "a.pem,b.pem", want: []string{"a.pem", "b.pem"}},
	{key: "auth.jwks_file", set: "keys.json", want: "keys.json"},
	{key: "auth.jwks_urls", set: "https://lms.example/jwks.json", want: []string{"https://lms.example/jwks.json"}, bad: "ftp://lms.example/keys"},
	{key: "auth.jwks_refresh", set: "10m", want: 10 * time.Minute, bad: "1s"},
	{key: "auth.roles", set: "teacher,student,ta", want: []string{"teacher", "student", "ta"}, bad: ""},
	{key: "auth.leeway", set: "5s", want: 5 * time.Second, bad: "-1s"},
	{key: "auth.issuer", set: "https://lms.example", want: "https://lms.example"},
	{key: "auth.audience", set: "classgate", want: "classgate"},
	{key: "auth.max_token_lifetime", set: "1h", want: time.Hour, bad: "-1h"},
	{key: "limits.rate_per_second", set: "0", want: 0.0, bad: "-1"},
	{key: "limits.rate_burst", set: "10", want: 10, bad: "0"},
	{key: "limits.abuse_limit", set: "10", want: 10, bad: "0"},
	{key: "limits.max_rooms_per_conn", set: "4", want: 4, bad: "0"},
	{key: "limits.max_message_bytes", set: "1024", want: 1024, bad: "100"},
	{key: "history.limit", set: "10", want: 10, bad: "0"},
	{key: "history.age", set: "10m", want: 10 * time.Minute, bad: "0s"},
	{key: "dedupe.window", set: "1m", want: time.Minute, bad: "0s"},
	{key: "store.kind", set: "redis", want: "redis", bad: "etcd"},
	{key: "store.liveness_ttl", set: "10s", want: 10 * time.Second, bad: "500ms"},
	{key: "store.memory.max_idle_rooms", set: "5", want: 5, bad: "0"},
	{key: "store.memory.max_idle_bytes", set: "1024", want: int64(1024), bad: "0"},
	{key: "store.redis.mode", extra: []string{"STORE__KIND=redis", "STORE__REDIS__ADDRS=s1:26379", "STORE__REDIS__MASTER_NAME=m"}, set: "sentinel", want: "sentinel", bad: "ring"},
	{key: "store.redis.addr", extra: []string{"STORE__KIND=redis"}, set: "10.0.0.5:6379", want: "10.0.0.5:6379", bad: "nohost"},
	{key: "store.redis.addrs", extra: []string{"STORE__KIND=redis", "STORE__REDIS__MODE=cluster"}, set: "n1:6379,n2:6379", want: []string{"n1:6379", "n2:6379"}, bad: "nohost"},
	{key: "store.redis.master_name", extra: []string{"STORE__KIND=redis"}, set: "mymaster", want: "mymaster"},
	{key: "store.redis.username", extra: []string{"STORE__KIND=redis"}, set: "gw", want: "gw"},
	{key: "store.redis.password", extra: []string{"STORE__KIND=redis"}, set: "pw", want: "pw"},
	{key: "store.redis.sentinel_username", extra: []string{"STORE__KIND=redis"}, set: "", bad: "sentinel-user"},
	{key: "store.redis.sentinel_password", extra: []string{"STORE__KIND=redis"}, set: "", bad: "sentinel-pw"},
	{key: "store.redis.tls.enabled", extra: []string{"STORE__KIND=redis"}, set: "true", want: true, bad: "maybe"},
	{key: "store.redis.tls.ca_file", extra: []string{"STORE__KIND=redis", "STORE__REDIS__TLS__ENABLED=true"}, bad: "/nonexistent/ca.pem"},
	{key: "store.redis.tls.cert_file", extra: []string{"STORE__KIND=redis", "STORE__REDIS__TLS__ENABLED=true", "STORE__REDIS__TLS__KEY_FILE=/nonexistent/key.pem"}, bad: "/nonexistent/cert.pem"},
	// A key file alone is refused naming cert_file (the pair's first key).
	{key: "store.redis.tls.key_file", extra: []string{"STORE__KIND=redis", "STORE__REDIS__TLS__ENABLED=true"}, bad: ""},
	{key: "store.redis.tls.server_name", extra: []string{"STORE__KIND=redis", "STORE__REDIS__TLS__ENABLED=true"}, set: "redis.example", want: "redis.example"},
	{key: "store.redis.db", extra: []string{"STORE__KIND=redis"}, set: "3", want: 3, bad: "-1"},
	{key: "store.redis.prefix", extra: []string{"STORE__KIND=redis"}, set: "cg:", want: "cg:", bad: "a{b}"},
	{key: "store.redis.wait_replicas", extra: []string{"STORE__KIND=redis"}, set: "1", want: 1, bad: "-1"},
	{key: "store.redis.wait_timeout", extra: []string{"STORE__KIND=redis"}, set: "50ms", want: 50 * time.Millisecond, bad: "-1s"},
	{key: "store.redis.dial_timeout", extra: []string{"STORE__KIND=redis"}, set: "1s", want: time.Second, bad: "-1s"},
	{key: "store.redis.op_timeout", extra: []string{"STORE__KIND=redis"}, set: "1s", want: time.Second, bad: "-1s"},
	{key: "dev.enabled", set: "true", want: true, bad: "maybe"},
	{key: "dev.allow_non_loopback", set: "true", want: true, bad: "maybe"},
	{key: "runtime.gc_percent", set: "100", want: 100, bad: "5"},
	{key: "log.level", set: "debug", want: "debug", bad: "loud"},
	{key: "log.format", set: "text", want: "text", bad: "xml"},
	{key: "metrics.enabled", set: "false", want: false, bad: "maybe"},
	{key: "metrics.public", set: "true", want: true, bad: "maybe"},
	{key: "metrics.path", set: "/m", want: "/m", bad: "m"},
	{key: "admin.listen", extra: []string{"ADMIN__TOKEN=0123456789abcdef"}, set: "127.0.0.1:9090", want: "127.0.0.1:9090", bad: "nowhere"},
	{key: "admin.token", extra: []string{"ADMIN__LISTEN=127.0.0.1:9090"}, set: "0123456789abcdef", want: "0123456789abcdef", bad: "short"},
	{key: "admin.pprof", set: "true", want: true, bad: "maybe"},
	{key: "tracing.endpoint", set: "http://127.0.0.1:4318", want: "http://127.0.0.1:4318", bad: "grpc://x:4317"},
	{key: "tracing.sample_ratio", set: "0.5", want: 0.5, bad: "2"},
	{key: "tracing.service_name", set: "cg", want: "cg"},
	{key: "tracing.timeout", set: "5s", want: 5 * time.Second, bad: "soon"},
	{key: "plugins.cache_dir", set: "/var/cache/cg", want: "/var/cache/cg"},
	{key: "plugins.namespaces.chat.source", set: "embedded:presence", want: "embedded:presence", bad: "embedded:"},
	{key: "plugins.namespaces.chat.on_failure", set: "pass", want: "pass", bad: "explode"},
	{key: "plugins.namespaces.chat.pool_size", set: "4", want: 4, bad: "-1"},
	{key: "plugins.namespaces.chat.memory_pages", set: "64", want: 64, bad: "-1"},
	{key: "plugins.namespaces.chat.timeout", set: "1s", want: time.Second, bad: "-1s"},
	{key: "plugins.namespaces.chat.rollout", set: "50", want: 50, bad: "101"},
	{key: "lambda.config", set: "/var/task/x.yaml", want: "/var/task/x.yaml"},
	{key: "lambda.endpoint", set: "http://127.0.0.1:1/s", want: "http://127.0.0.1:1/s"},
	{key: "lambda.workers", set: "4", want: 4, bad: "0"},
	{key: "lambda.post_budget", set: "1s", want: time.Second, bad: "0s"},
	{key: "lambda.post_timeout", set: "250ms", want: 250 * time.Millisecond, bad: "0s"},
	{key: "lambda.order", set: "off", want: false, bad: "sometimes"},
	{key: "lambda.order_wait", set: "300ms", want: 300 * time.Millisecond, bad: "0s"},
	{key: "lambda.order_lease", set: "2s", want: 2 * time.Second, bad: "0s"},
	{key: "lambda.expiry_every", set: "-1s", want: -time.Second, bad: "soon"},
	{key: "lambda.sweep_every", set: "-1s", want: -time.Second, bad: "soon"},
	{key: "lambda.sweep_limit", set: "8", want: 8, bad: "0"},
	{key: "lambda.metrics_namespace", set: "X", want: "X"},
	{key: "lambda.metrics_every", set: "-1s", want: -time.Second, bad: "0s"},
	{key: "lambda.metrics_samples", set: "0", want: 0, bad: "-1"},
	{key: "lambda.compile_cache", set: "off", want: false, bad: "maybe"},
	{key: "lambda.cache_seed", set: "/var/task/c", want: "/var/task/c"},
	{key: "lambda.secrets", set: `{"auth.hs256_secret":"arn#k"}`, want: `{"auth.hs256_secret":"arn#k"}`},
	{key: "lambda.secrets_endpoint", set: "http://127.0.0.1:1", want: "http://127.0.0.1:1"},
	{key: "lambda.authorizer_deny", set: "true", want: true, bad: "maybe"},
}

// notInTable are the keys of Defaults that keyCases leaves out: maps and
// the plugin settings whose rules plugins/host tests.
func notInTable(key string) bool {
	return key == "tracing.headers" || (strings.HasPrefix(key, "plugins.namespaces.") && !strings.HasPrefix(key, "plugins.namespaces.chat.")) ||
		slices.Contains([]string{"sha256", "config", "enable", "disable", "failure_budget", "failure_window", "move_live_rooms", "canary.source", "canary.sha256", "canary.percent"},
			strings.TrimPrefix(key, "plugins.namespaces.chat."))
}

// TestEveryKeyHasACase: a new key gets a row in keyCases.
func TestEveryKeyHasACase(t *testing.T) {
	for key := range Defaults() {
		if notInTable(key) {
			continue
		}
		if !slices.ContainsFunc(keyCases, func(c keyCase) bool { return c.key == key }) {
			t.Errorf("key %s has no row in keyCases", key)
		}
	}
}

// TestKeys: for every key, its default as Defaults states it, its value
// from the environment (CLASSGATE_<KEY>) and from a file, and an invalid
// value, refused with an error naming the key.
func TestKeys(t *testing.T) {
	defaults := decodeDefaults(t)
	for _, tc := range keyCases {
		t.Run(tc.key, func(t *testing.T) {
			// A way to verify tokens is required; the secret's own row
			// uses another one.
			base := []string{EnvPrefix + "AUTH__HS256_SECRET=" + secret}
			if tc.key == "auth.hs256_secret" {
				base = []string{EnvPrefix + "AUTH__JWKS_FILE=keys.json"}
			}
			def, err := Load("", base, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := Defaults()[tc.key]
			if !ok {
				t.Fatalf("%s is not in Defaults()", tc.key)
			}
			if got, want := field(t, def, tc.key), field(t, defaults, tc.key); tc.key != "plugins.cache_dir" && !reflect.DeepEqual(got, want) {
				t.Errorf("default: %#v, Defaults() says %#v (%v)", got, want, d)
			}
			env := base
			for _, e := range tc.extra {
				env = append(env, EnvPrefix+e)
			}
			envName := EnvPrefix + strings.ToUpper(strings.ReplaceAll(tc.key, ".", "__"))
			if tc.set != "" {
				c, err := Load("", append(env, envName+"="+tc.set), nil)
				if err != nil {
					t.Fatalf("environment %s=%s: %v", envName, tc.set, err)
				}
				if got := field(t, c, tc.key); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("environment: %#v, want %#v", got, tc.want)
				}
				c, err = Load(yamlFile(t, tc.key, tc.set), env, nil)
				if err != nil {
					t.Fatalf("file %s: %s: %v", tc.key, tc.set, err)
				}
				if got := field(t, c, tc.key); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("file: %#v, want %#v", got, tc.want)
				}
			}
			if tc.bad != "" {
				for _, src := range []string{"environment", "file"} {
					var err error
					if src == "environment" {
						_, err = Load("", append(env, envName+"="+tc.bad), nil)
					} else {
						_, err = Load(yamlFile(t, tc.key, tc.bad), env, nil)
					}
					if err == nil {
						t.Fatalf("%s %q: loaded, want an error naming %s", src, tc.bad, tc.key)
					}
					if keys := Keys(err); !slices.Contains(keys, tc.key) {
						t.Errorf("%s %q: error %q names %q, not %s", src, tc.bad, err, keys, tc.key)
					}
				}
			}
		})
	}
}

// TestUnknownKeys: a key the configuration does not have is an error
// naming it, from the environment and from a file.
func TestUnknownKeys(t *testing.T) {
	env := []string{EnvPrefix + "AUTH__HS256_SECRET=" + secret}
	_, err := Load("", append(env, EnvPrefix+"METRICS__PUBLICK=true"), nil)
	if !slices.Contains(Keys(err), "metrics.publick") {
		t.Errorf("environment: %v", err)
	}
	_, err = Load(yamlFile(t, "server.listne", "127.0.0.1:1"), env, nil)
	if !slices.Contains(Keys(err), "server.listne") {
		t.Errorf("file: %v", err)
	}
}

// TestReferenceConfigStatesDefaults: configs/gateway.yaml states exactly
// Defaults(): the same keys, each with the same value once decoded.
func TestReferenceConfigStatesDefaults(t *testing.T) {
	ref := koanf.New(".")
	if err := ref.Load(file.Provider("../../configs/gateway.yaml"), yaml.Parser()); err != nil {
		t.Fatal(err)
	}
	def := koanf.New(".")
	if err := def.Load(confmap.Provider(Defaults(), "."), nil); err != nil {
		t.Fatal(err)
	}
	refKeys, defKeys := ref.Keys(), def.Keys()
	for _, k := range refKeys {
		if !def.Exists(k) {
			t.Errorf("configs/gateway.yaml states %s, Defaults() has no such key", k)
		}
	}
	for _, k := range defKeys {
		if !ref.Exists(k) {
			t.Errorf("Defaults() has %s, configs/gateway.yaml does not state it", k)
		}
	}
	var fromRef, fromDef Config
	if err := unmarshal(ref, &fromRef); err != nil {
		t.Fatal(err)
	}
	if err := unmarshal(def, &fromDef); err != nil {
		t.Fatal(err)
	}
	for _, k := range defKeys {
		if a, b := field(t, &fromRef, k), field(t, &fromDef, k); !reflect.DeepEqual(a, b) && fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: configs/gateway.yaml says %#v, Defaults() %#v", k, a, b)
		}
	}
}

// decodeDefaults is Defaults() decoded, nothing else.
func decodeDefaults(t *testing.T) *Config {
	t.Helper()
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(Defaults(), "."), nil); err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := unmarshal(k, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// yamlFile writes a configuration file setting key to the string value.
func yamlFile(t *testing.T, key, value string) string {
	t.Helper()
	var b strings.Builder
	for i, part := range strings.Split(key, ".") {
		b.WriteString(strings.Repeat("  ", i) + part + ":")
		if i == strings.Count(key, ".") {
			fmt.Fprintf(&b, " %q", value)
		}
		b.WriteString("\n")
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// field returns the value at key in c, following koanf tags (and map keys).
func field(t *testing.T, c *Config, key string) any {
	t.Helper()
	v := reflect.ValueOf(c).Elem()
parts:
	for _, part := range strings.Split(key, ".") {
		switch v.Kind() {
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(part))
			if !v.IsValid() {
				t.Fatalf("%s: no %q", key, part)
			}
			continue parts
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).Tag.Get("koanf") == part {
					v = v.Field(i)
					continue parts
				}
			}
		}
		t.Fatalf("%s: no field %q", key, part)
	}
	return v.Interface()
}
