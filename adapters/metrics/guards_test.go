package metrics_test

import (
	"testing"

	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/host"
)

// *Metrics plugs into the router and the plugin host as they are: these
// guards break the build when either interface drifts.
var (
	_ core.Observer     = (*metrics.Metrics)(nil)
	_ host.CallObserver = (*metrics.Metrics)(nil)
)

// TestOutcomesMatchHost: every outcome the plugin host reports has its own
// label here (none is folded into "error").
func TestOutcomesMatchHost(t *testing.T) {
	for _, o := range host.Outcomes {
		if !metrics.KnownOutcome(o) {
			t.Errorf("host outcome %q is not a known metrics outcome", o)
		}
	}
}
