package main

import (
	"slices"
	"time"
)

// The machine's speed. On a virtual machine the cost of the same work
// changes while the host runs other guests: on the machine of
// docs/PERFORMANCE.md a run's gateway and loadgen both spent 1.5× the
// CPU per delivery of the same run two hours later, with no other process
// busy in the guest. A latency figure taken while the machine ran slow is
// not comparable with one taken while it ran at its usual speed, so
// loadgen measures the speed while it measures the server, and reports
// it next to the figures.
//
// The probe is the CPU time of a system call: deliveries are mostly
// system calls (a send by the server, a receive by loadgen), and on a
// paravirtualised guest entering the kernel is what slows down most. It
// is the calling thread's own CPU time, so time the thread spent waiting
// for a CPU in the guest does not count; time the host took the virtual
// CPU away does (the guest cannot tell), which is what it is meant to see.

// speedEvery and speedCalls: one sample of speedCalls system calls every
// speedEvery — about a millisecond of CPU four times a second.
const (
	speedEvery = 250 * time.Millisecond
	speedCalls = 1000
)

// SpeedReport is the machine's speed over the measured window: the CPU
// time of one system call (getppid), in nanoseconds, over its samples.
// All zero where the probe is not supported (not Linux).
type SpeedReport struct {
	Samples    int     `json:"samples"`
	SyscallP50 float64 `json:"syscall_ns_p50"`
	SyscallMax float64 `json:"syscall_ns_max"`
}

// speedProbe samples syscallCost until stopped.
type speedProbe struct {
	stop    chan struct{}
	done    chan struct{}
	samples []float64 // ns per call; the probe's goroutine's until done
}

// startSpeedProbe starts sampling every interval, calls system calls per
// sample.
func startSpeedProbe(interval time.Duration, calls int) *speedProbe {
	p := &speedProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if ns, ok := syscallCost(calls); ok {
				p.samples = append(p.samples, ns)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// finish stops the probe and summarises its samples.
func (p *speedProbe) finish() SpeedReport {
	close(p.stop)
	<-p.done
	return summariseSpeed(p.samples)
}

// summariseSpeed is the median and the largest of samples (ns per call).
func summariseSpeed(samples []float64) SpeedReport {
	if len(samples) == 0 {
		return SpeedReport{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return SpeedReport{Samples: len(s), SyscallP50: round(s[len(s)/2], 0), SyscallMax: round(s[len(s)-1], 0)}
}
