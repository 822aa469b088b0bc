package awsapigw

import (
	"context"
	"io"
	"testing"

	"github.com/classgate/classgate/adapters/awsapigw/defaults"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// TestZeroOptionsTakeDefaults: a Sender, Handler and EMF built with zero
// options run with exactly adapters/awsapigw/defaults' values, the ones
// internal/config's Defaults quotes for the lambda.* keys, and the
// exported Default* names quote the same constants.
func TestZeroOptionsTakeDefaults(t *testing.T) {
	snd, err := NewSender(context.Background(), SenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := core.NewRouter(core.Options{Store: memory.New(memory.Options{}), Sender: snd, Direct: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(HandlerOptions{Router: r, Sender: snd})
	if err != nil {
		t.Fatal(err)
	}
	emf := NewEMF(io.Discard, "Classgate", "fn", nil)
	tests := []struct {
		name      string
		got, want any
	}{
		{"Sender Workers", snd.o.Workers, defaults.Workers},
		{"Sender Budget", snd.o.Budget, defaults.PostBudget},
		{"Sender PostTimeout", snd.o.PostTimeout, defaults.PostTimeout},
		{"Sender Order.Wait", snd.o.Order.Wait, defaults.OrderWait},
		{"Sender Order.Lease", snd.o.Order.Lease, defaults.OrderLease},
		{"Handler SweepEvery", h.o.SweepEvery, defaults.SweepEvery},
		{"Handler SweepLimit", h.o.SweepLimit, defaults.SweepLimit},
		{"Handler ExpiryEvery", h.o.ExpiryEvery, defaults.ExpiryEvery},
		{"Handler MetricsEvery", h.o.MetricsEvery, defaults.MetricsEvery},
		{"EMF samples", emf.samples, defaults.MetricsSamples},
		{"DefaultPostTimeout", DefaultPostTimeout, defaults.PostTimeout},
		{"DefaultMetricsEvery", DefaultMetricsEvery, defaults.MetricsEvery},
		{"MaxSamples", MaxSamples, defaults.MetricsSamples},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
			}
		})
	}
}
