package config

import "time"

// Lambda holds the settings only the AWS Lambda deployment has, under
// lambda.* like every other key (CLASSGATE_LAMBDA__WORKERS=8 or a
// lambda: section in lambda.yaml). configs/gateway.yaml documents each.
type Lambda struct {
	// Config is the YAML file the function loads (empty: lambda.yaml in
	// $LAMBDA_TASK_ROOT or beside the executable, when present). Only the
	// environment can set it.
	Config string `koanf:"config"`
	// Endpoint is the Management API endpoint; empty: https://{domain}/{stage}
	// of each event.
	Endpoint string `koanf:"endpoint"`
	// Workers is the number of posts in flight per invocation.
	Workers int `koanf:"workers"`
	// PostBudget is the retry budget of one post.
	PostBudget time.Duration `koanf:"post_budget"`
	// PostTimeout bounds one post attempt; a member slower than that is
	// closed as a slow consumer.
	PostTimeout time.Duration `koanf:"post_timeout"`
	// Order turns on the per-room ordered hand-off in Redis; OrderWait is
	// how long a delivery waits for its turn before posting anyway,
	// OrderLease the most one holder keeps the turn.
	Order      bool          `koanf:"order"`
	OrderWait  time.Duration `koanf:"order_wait"`
	OrderLease time.Duration `koanf:"order_lease"`
	// ExpiryEvery is how often an environment closes connections whose
	// token expired, at the end of an invocation (negative: only on
	// scheduled events).
	ExpiryEvery time.Duration `koanf:"expiry_every"`
	// SweepEvery is how often an environment sweeps connections whose
	// liveness expired (negative: never); SweepLimit bounds one sweep.
	SweepEvery time.Duration `koanf:"sweep_every"`
	SweepLimit int           `koanf:"sweep_limit"`
	// MetricsNamespace is the CloudWatch namespace of the EMF metrics;
	// MetricsEvery how often an environment writes its aggregated metrics
	// (negative: after every invocation; 0 is refused).
	MetricsNamespace string        `koanf:"metrics_namespace"`
	MetricsEvery     time.Duration `koanf:"metrics_every"`
	// MetricsSamples bounds the values one latency metric keeps per write
	// (defaults.MetricsSamples of adapters/awsapigw/defaults by default;
	// 0: counts only).
	MetricsSamples int `koanf:"metrics_samples"`
	// CompileCache keeps wazero's compilation cache in
	// $TMPDIR/classgate-wazero (unless plugins.cache_dir is set); false
	// compiles in memory.
	CompileCache bool `koanf:"compile_cache"`
	// CacheSeed is a directory with a compilation cache made by
	// `bootstrap -warm-cache` for this architecture, copied into the cache
	// directory at init.
	CacheSeed string `koanf:"cache_seed"`
	// Secrets maps configuration keys to Secrets Manager references, a
	// JSON object {"auth.hs256_secret": "ARN#jsonkey", …}, resolved at
	// init (awsapigw.ParseSecretRefs); SecretsEndpoint overrides the
	// Secrets Manager endpoint.
	Secrets         string `koanf:"secrets"`
	SecretsEndpoint string `koanf:"secrets_endpoint"`
	// AuthorizerDeny makes cmd/authorizer answer refused tokens with a
	// Deny policy (HTTP 403) instead of Unauthorized (HTTP 401).
	AuthorizerDeny bool `koanf:"authorizer_deny"`
}

// LambdaCommitRetries is the router's CommitRetries in the Lambda
// deployment: concurrent invocations in one room commit optimistically,
// so a hot room needs more attempts than one node (which serialises a
// room) ever does.
const LambdaCommitRetries = 32
