// Package dashstats is the summary the operator dashboard shows: produced
// by adapters/metrics ((*metrics.Metrics).Stats), served by adapters/admin
// (GET /admin/stats, with the node's identity added), wired together by
// cmd/gateway. It holds types only and imports the standard library only,
// so that both adapters can share it without one importing the other
// (internal/layering checks both). The JSON field names are the contract
// the dashboard (adapters/admin/static) reads.
package dashstats
