package metrics_test

import (
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
