package memory_test

import (
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/coretest"
	"github.com/classgate/classgate/core/memory"
)

func TestConformance(t *testing.T) {
	coretest.RunStore(t, coretest.Factory{New: func(t *testing.T, cfg coretest.Config) core.Store {
		return memory.New(memory.Options{HistoryLimit: cfg.HistoryLimit, HistoryAge: cfg.HistoryAge, LivenessTTL: cfg.LivenessTTL})
	}})
}
