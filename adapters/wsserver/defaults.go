package wsserver

import "time"

// The defaults of Options, applied to zero fields by New. They are the one
// source of these values: internal/config's Defaults quotes them and
// configs/gateway.yaml states them (internal/config tests both).
const (
	DefaultReadLimit    = 1 << 20
	DefaultSendQueue    = 512
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 30 * time.Second
	DefaultShedAfter    = 200 * time.Millisecond
)
