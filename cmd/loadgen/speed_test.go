package main

import (
	"runtime"
	"testing"
	"time"
)

func TestSummariseSpeed(t *testing.T) {
	tests := []struct {
		name    string
		samples []float64
		want    SpeedReport
	}{
		{"none", nil, SpeedReport{}},
		{"one", []float64{1030.4}, SpeedReport{Samples: 1, SyscallP50: 1030, SyscallMax: 1030}},
		{"unsorted", []float64{1500, 1000, 1100}, SpeedReport{Samples: 3, SyscallP50: 1100, SyscallMax: 1500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summariseSpeed(tt.samples); got != tt.want {
				t.Errorf("summariseSpeed(%v) = %+v, want %+v", tt.samples, got, tt.want)
			}
		})
	}
}

// TestSpeedProbe: on Linux the probe measures a system call's CPU time
// (some nanoseconds, well under a millisecond) at least once per window,
// and stops when asked.
func TestSpeedProbe(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the probe is Linux only")
	}
	p := startSpeedProbe(10*time.Millisecond, 200)
	time.Sleep(50 * time.Millisecond)
	rep := p.finish()
	if rep.Samples < 1 {
		t.Fatalf("no samples: %+v", rep)
	}
	if rep.SyscallP50 <= 0 || rep.SyscallP50 > 1e6 || rep.SyscallMax < rep.SyscallP50 {
		t.Errorf("implausible system call cost: %+v", rep)
	}
}
