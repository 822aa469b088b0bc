package web

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestClientJS runs the JavaScript client's unit tests
// (static/classgate.test.mjs) with `node --test`: reconnect and backoff,
// dedupe, gap → re-join with since, send ack/error/timeout, resend with the
// same id after a reconnect. They use a fake WebSocket and a fake clock, so
// they need nothing but Node.js ≥ 20.
func TestClientJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: the JavaScript client tests need Node.js >= 20")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "static/classgate.test.mjs")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
