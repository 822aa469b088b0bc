package dashstats

import "time"

// Stats is a summary of one node's metrics for the operator dashboard
// (GET /admin/stats): the gauges now, and rates and latency quantiles over
// the last window (about 30 seconds, metrics.StatsWindow, between two
// readings). adapters/metrics reads it from the very collectors /metrics
// serves, so it always agrees with /metrics.
type Stats struct {
	// Time of this reading.
	Time time.Time `json:"time"`
	// WindowSeconds is the span the rates and quantiles cover; 0 on the
	// first reading, when rates are 0 and quantiles cover everything since
	// the start.
	WindowSeconds float64 `json:"window_seconds"`
	// Connections and Rooms are the gauges now.
	Connections float64 `json:"connections"`
	Rooms       float64 `json:"rooms"`
	// Rates per second over the window.
	Rates Rates `json:"rates"`
	// Totals since the process started.
	Totals Totals `json:"totals"`
	// Fan-out latency quantiles over the window, in seconds; nil when no
	// event was delivered in it.
	FanoutP50Seconds *float64 `json:"fanout_p50_seconds"`
	FanoutP99Seconds *float64 `json:"fanout_p99_seconds"`
	// StoreP99Seconds is the p99 of all store calls over the window.
	StoreP99Seconds *float64 `json:"store_p99_seconds"`
	// ErrorsByCode: error frames per second over the window, by code.
	ErrorsByCode map[string]float64 `json:"errors_by_code"`
	// FramesInByType: client frames per second over the window, by type.
	FramesInByType map[string]float64 `json:"frames_in_by_type"`
	// Plugins, sorted by plugin then version, from
	// classgate_plugin_calls_total (version metrics.VersionNone: a handler
	// the plugin host does not serve).
	Plugins []PluginStats `json:"plugins"`
}

// Rates are per-second rates over the window.
type Rates struct {
	FramesIn     float64 `json:"frames_in"`
	FramesOut    float64 `json:"frames_out"`
	Deliveries   float64 `json:"deliveries"`
	Joins        float64 `json:"joins"`
	Errors       float64 `json:"errors"`
	RateLimited  float64 `json:"rate_limited"`
	PluginCalls  float64 `json:"plugin_calls"`
	PluginErrors float64 `json:"plugin_errors"`
	StoreErrors  float64 `json:"store_errors"`
	SlowClosures float64 `json:"slow_consumer_closes"`
}

// Totals are counters since the process started.
type Totals struct {
	FramesIn     float64 `json:"frames_in"`
	FramesOut    float64 `json:"frames_out"`
	Deliveries   float64 `json:"deliveries"`
	Joins        float64 `json:"joins"`
	Acks         float64 `json:"acks"`
	Errors       float64 `json:"errors"`
	RateLimited  float64 `json:"rate_limited"`
	Duplicates   float64 `json:"duplicates"`
	PluginCalls  float64 `json:"plugin_calls"`
	PluginErrors float64 `json:"plugin_errors"`
	StoreErrors  float64 `json:"store_errors"`
	SlowClosures float64 `json:"slow_consumer_closes"`
	Replayed     float64 `json:"replayed_events"`
	Resyncs      float64 `json:"resyncs"`
}

// PluginStats summarises one plugin version. Errors are every outcome
// except ok and rejected.
type PluginStats struct {
	Plugin          string   `json:"plugin"`
	Version         string   `json:"version"`
	CallsPerSecond  float64  `json:"calls_per_second"`
	ErrorsPerSecond float64  `json:"errors_per_second"`
	CallsTotal      float64  `json:"calls_total"`
	ErrorsTotal     float64  `json:"errors_total"`
	P99Seconds      *float64 `json:"p99_seconds"`
}
