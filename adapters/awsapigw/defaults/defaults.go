package defaults

import "time"

// The Sender's defaults (awsapigw.SenderOptions; lambda.workers,
// lambda.post_budget, lambda.post_timeout, lambda.order_wait,
// lambda.order_lease).
const (
	// Workers is the number of posts in flight at once per invocation.
	Workers = 16
	// PostBudget bounds the retries of one post after throttling or a
	// 5xx.
	PostBudget = 2 * time.Second
	// PostTimeout bounds one PostToConnection attempt; a member slower
	// than that is closed as a slow consumer.
	PostTimeout = time.Second
	// OrderWait is how long an ordered delivery waits for its room's turn
	// before posting anyway.
	OrderWait = 2 * time.Second
	// OrderLease is the longest one invocation holds a room's turn.
	OrderLease = 5 * time.Second
)

// The Handler's defaults (awsapigw.HandlerOptions; lambda.expiry_every,
// lambda.sweep_every, lambda.sweep_limit, lambda.metrics_every).
const (
	// ExpiryEvery is how often an execution environment closes the
	// connections whose token expired, at the end of an invocation.
	ExpiryEvery = time.Second
	// SweepEvery is how often an execution environment sweeps the
	// connections whose liveness expired.
	SweepEvery = 30 * time.Second
	// SweepLimit bounds the connections one sweep (or one expiry pass)
	// removes.
	SweepLimit = 64
	// MetricsEvery is how often an execution environment writes its
	// aggregated metrics: CloudWatch's standard resolution.
	MetricsEvery = time.Minute
)

// MetricsSamples is the most values of one latency metric (per dimension
// value) an EMF write keeps (awsapigw.EMF.SetSamples; lambda.metrics_samples).
const MetricsSamples = 500
