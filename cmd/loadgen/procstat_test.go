package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "Name:\tgateway\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads: 4\n", want: 2048 * 1024},
		{in: "Name:\tx\n", wantErr: true},
		{in: "VmRSS:\tlots kB\n", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseVmRSS([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "1234 (gate way) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 100 0 0", want: 3 * time.Second},
		{in: "1 (a)b) R 0 0 0 0 0 0 0 0 0 0 1 1 0 0", want: 20 * time.Millisecond},
		{in: "1 (x) S 1 2", wantErr: true},
		{in: "no paren", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseStatCPU([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	s, err := readProc(strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 {
		t.Errorf("RSS = %d", s.RSS)
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in          string
		busy, total time.Duration
		wantErr     bool
	}{
		{in: "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n", busy: 1500 * time.Millisecond, total: 10 * time.Second},
		{in: "cpu0 1 2 3 4 5\n", wantErr: true},
		{in: "cpu 1 x 3 4 5\n", wantErr: true},
	}
	for _, tc := range tests {
		b, tot, err := parseProcStat([]byte(tc.in))
		if (err != nil) != tc.wantErr || b != tc.busy || tot != tc.total {
			t.Errorf("parseProcStat(%q) = %v, %v, %v; want %v, %v, err %v", tc.in, b, tot, err, tc.busy, tc.total, tc.wantErr)
		}
	}
}
