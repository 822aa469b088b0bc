package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a process's memory and CPU time.
type ProcSample struct {
	At      time.Time     `json:"-"`
	RSS     int64         `json:"rss_bytes"`
	CPUTime time.Duration `json:"cpu_ns"` // user + system, since the process started
}

// readProc samples pid (or "self") from /proc.
func readProc(pid string) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return s, fmt.Errorf("read status of %s: %w", pid, err)
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return s, fmt.Errorf("status of %s: %w", pid, err)
	}
	s.RSS = rss
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return s, fmt.Errorf("read stat of %s: %w", pid, err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return s, fmt.Errorf("stat of %s: %w", pid, err)
	}
	s.CPUTime = cpu
	return s, nil
}

// parseVmRSS returns VmRSS from /proc/PID/status, in bytes.
func parseVmRSS(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", rest, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// parseStatCPU returns utime+stime from /proc/PID/stat. The command name
// (field 2) may contain spaces and parentheses, so fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("only %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime/stime %q %q: not numbers", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// cpuPercent is the CPU use between two samples, in percent of one core.
func cpuPercent(a, b ProcSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPUTime-a.CPUTime) / float64(wall)
}

// MachineSample is one reading of the whole machine's CPU time
// (/proc/stat) and load average (/proc/loadavg).
type MachineSample struct {
	At    time.Time
	Busy  time.Duration // all CPUs, everything but idle and iowait
	Total time.Duration // all CPUs
	Load1 float64
}

// readMachine samples /proc/stat and /proc/loadavg.
func readMachine() (MachineSample, error) {
	m := MachineSample{At: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, fmt.Errorf("read /proc/stat: %w", err)
	}
	if m.Busy, m.Total, err = parseProcStat(stat); err != nil {
		return m, err
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := bytes.Fields(la); len(f) > 0 {
			m.Load1, _ = strconv.ParseFloat(string(f[0]), 64)
		}
	}
	return m, nil
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat.
func parseProcStat(stat []byte) (busy, total time.Duration, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: no aggregate cpu line")
	}
	var idle int64
	for i, v := range f[1:] {
		if i >= 8 { // guest times are already in user/nice
			break
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		total += time.Duration(n) * time.Second / clockTicks
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return total - time.Duration(idle)*time.Second/clockTicks, total, nil
}

// machinePercent is the machine's busy CPU between two samples, in percent
// of one core (200 = two cores fully busy).
func machinePercent(a, b MachineSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.Busy-a.Busy) / float64(wall)
}
