package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

const testSecret = "loadgen-test-secret-0123456789abcdef"

// testConfig is a small, quick run: 2 rooms × 3 users, one publisher per
// room, 20 msg/s for one second, no warm-up (every message is measured).
func testConfig(url string) Config {
	return Config{
		URLs: []string{url}, Secret: testSecret, Rooms: 2, Users: 3, Publishers: 1,
		Rate: 20, Duration: time.Second, Drain: 3 * time.Second,
		Mix: Mix{1, 0, 0}, Concurrency: 8, Points: 4, Quiet: true,
		HandshakeTTL: 10 * time.Second,
	}
}

func TestRunAgainstFake(t *testing.T) {
	tests := []struct {
		name  string
		fault string
		mix   Mix
		check func(t *testing.T, rep *Report)
	}{
		{
			name: "clean chat", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantPass(t, rep)
				if rep.Deliveries.Expected != rep.Messages.AckedDurable*3 {
					t.Errorf("expected %d deliveries for %d acked messages in rooms of 3", rep.Deliveries.Expected, rep.Messages.AckedDurable)
				}
			},
		},
		{
			name: "clean mix", mix: Mix{1, 1, 1},
			check: func(t *testing.T, rep *Report) {
				wantPass(t, rep)
				if rep.Deliveries.Ephemeral == 0 {
					t.Error("no cursor event counted")
				}
			},
		},
		{
			name: "dropped delivery", fault: "drop", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantFail(t, rep, "lost")
				if rep.Deliveries.Lost != 1 || rep.Order.Gaps != 1 || rep.Deliveries.RoomsWithLoss != 1 {
					t.Errorf("lost=%d gaps=%d rooms=%d, want 1 1 1", rep.Deliveries.Lost, rep.Order.Gaps, rep.Deliveries.RoomsWithLoss)
				}
			},
		},
		{
			name: "duplicate delivery", fault: "dup", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantFail(t, rep, "duplicate")
				if rep.Order.Duplicates != 1 || rep.Deliveries.Extra != 1 {
					t.Errorf("duplicates=%d extra=%d, want 1 1", rep.Order.Duplicates, rep.Deliveries.Extra)
				}
			},
		},
		{
			name: "reordered delivery", fault: "swap", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantFail(t, rep, "reordered")
				if rep.Order.Reorders != 1 || rep.Deliveries.Lost != 0 {
					t.Errorf("reorders=%d lost=%d, want 1 0", rep.Order.Reorders, rep.Deliveries.Lost)
				}
			},
		},
		{
			name: "missing ack", fault: "noack", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantFail(t, rep, "never answered")
				if rep.Messages.Unanswered != 1 {
					t.Errorf("unanswered=%d, want 1", rep.Messages.Unanswered)
				}
			},
		},
		{
			name: "rejected", fault: "reject", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantFail(t, rep, "rejected=1")
				if rep.Deliveries.Lost != 0 {
					t.Errorf("lost=%d: a rejected message is not expected anywhere", rep.Deliveries.Lost)
				}
			},
		},
		{
			name: "server closes a member", fault: "close", mix: Mix{1, 0, 0},
			check: func(t *testing.T, rep *Report) {
				wantFail(t, rep, "unexpected disconnects")
				if rep.CloseCodes["4008"] != 1 {
					t.Errorf("close codes %v, want 4008 once", rep.CloseCodes)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGateway(t, testSecret, tc.fault)
			cfg := testConfig(g.URL())
			cfg.Mix = tc.mix
			rep := NewRun(cfg, nil).Execute(context.Background())
			if rep.Connections.Connected != 6 {
				t.Fatalf("connected %d of 6: %v", rep.Connections.Connected, rep.ErrorSample)
			}
			tc.check(t, rep)
		})
	}
}

func TestRunIdle(t *testing.T) {
	g := newFakeGateway(t, testSecret, "")
	cfg := testConfig(g.URL())
	cfg.Idle, cfg.Duration = true, 100*time.Millisecond
	rep := NewRun(cfg, nil).Execute(context.Background())
	wantPass(t, rep)
	if rep.Messages.SentTotal != 0 {
		t.Errorf("idle run sent %d messages", rep.Messages.SentTotal)
	}
}

func TestRunBadSecret(t *testing.T) {
	g := newFakeGateway(t, testSecret, "")
	cfg := testConfig(g.URL())
	cfg.Secret = "another-secret-another-secret-0000"
	rep := NewRun(cfg, nil).Execute(context.Background())
	wantFail(t, rep, "connections failed")
	if !strings.Contains(strings.Join(rep.ErrorSample, " "), "401") {
		t.Errorf("error sample does not mention HTTP 401: %q", rep.ErrorSample)
	}
}

func TestRunCommand(t *testing.T) {
	g := newFakeGateway(t, testSecret, "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, out string)
	}{
		{
			name: "json report", wantCode: exitPass,
			args: []string{"-url", g.URL(), "-secret", testSecret, "-rooms", "1", "-users", "2", "-rate", "20", "-duration", "500ms", "-warmup", "0s", "-settle", "0s", "-json", "-quiet", "-pid", "1"},
			check: func(t *testing.T, out string) {
				var rep Report
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("report is not JSON: %v\n%s", err, out)
				}
				if !rep.Pass || rep.Deliveries.Received == 0 {
					t.Errorf("pass=%v received=%d", rep.Pass, rep.Deliveries.Received)
				}
				// The machine's speed is measured over the window (Linux).
				if m := rep.Machine; runtime.GOOS == "linux" && (m == nil || m.Speed.Samples == 0 || m.Speed.SyscallP50 <= 0) {
					t.Errorf("no machine speed in the report: %+v", m)
				}
			},
		},
		{
			name: "text report", wantCode: exitPass,
			args: []string{"-url", g.URL(), "-secret", testSecret, "-rooms", "1", "-users", "2", "-rate", "20", "-duration", "300ms", "-warmup", "100ms", "-settle", "0s"},
			check: func(t *testing.T, out string) {
				for _, want := range []string{"deliveries", "latency", "result        PASS"} {
					if !strings.Contains(out, want) {
						t.Errorf("report lacks %q:\n%s", want, out)
					}
				}
			},
		},
		{
			name: "markdown report", wantCode: exitPass,
			args: []string{"-url", g.URL(), "-secret", testSecret, "-rooms", "1", "-users", "2", "-rate", "20", "-duration", "300ms", "-warmup", "0s", "-settle", "0s", "-markdown", "-quiet"},
			check: func(t *testing.T, out string) {
				if !strings.HasPrefix(out, "| figure | value |") || !strings.Contains(out, "| result | PASS |") || !strings.Contains(out, "| machine speed: CPU per system call") {
					t.Errorf("not the expected Markdown table:\n%s", out)
				}
			},
		},
		{name: "bad flag", args: []string{"-rooms", "x"}, wantCode: exitUsage},
		{
			name: "failure exit code", wantCode: exitFail,
			args: []string{"-url", g.URL(), "-secret", "wrong-secret-wrong-secret-wrong-0", "-rooms", "1", "-users", "1", "-duration", "100ms", "-settle", "0s", "-quiet"},
		},
		{
			name: "failure allowed", wantCode: exitPass,
			args: []string{"-url", g.URL(), "-secret", "wrong-secret-wrong-secret-wrong-0", "-rooms", "1", "-users", "1", "-duration", "100ms", "-settle", "0s", "-quiet", "-allow-loss"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, _ := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if tc.check != nil {
				tc.check(t, stdout.String())
			}
		})
	}
}

func wantPass(t *testing.T, rep *Report) {
	t.Helper()
	if !rep.Pass {
		var b bytes.Buffer
		_ = rep.WriteText(&b)
		t.Fatalf("run failed: %v\n%s", rep.Failures, b.String())
	}
	if rep.Deliveries.Lost != 0 || rep.Deliveries.Received != rep.Deliveries.Expected {
		t.Errorf("expected %d, received %d, lost %d", rep.Deliveries.Expected, rep.Deliveries.Received, rep.Deliveries.Lost)
	}
}

func wantFail(t *testing.T, rep *Report, reason string) {
	t.Helper()
	if rep.Pass {
		t.Fatalf("run passed, want a failure mentioning %q", reason)
	}
	if !strings.Contains(strings.Join(rep.Failures, "; "), reason) {
		t.Errorf("failures %q do not mention %q", rep.Failures, reason)
	}
}

// TestVerifyAgainstFake runs loadgen with -verify and -reconnect against
// the fake gateway and checks that the ledger tells each fault apart: a
// loss, a duplicate, a reorder and a silent seq regression fail the run; a
// resync and a reconnection with since (replay) do not.
func TestVerifyAgainstFake(t *testing.T) {
	tests := []struct {
		name  string
		fault string
		pass  bool
		fail  string
		check func(t *testing.T, v *VerifyReport, rep *Report)
	}{
		{name: "clean", pass: true, check: func(t *testing.T, v *VerifyReport, _ *Report) {
			if v.Total.Delivered != v.Total.Expected || v.Total.Expected != v.Total.Acked*3 || v.Members != 6 {
				t.Errorf("delivered %d of %d expected, %d acked, %d members", v.Total.Delivered, v.Total.Expected, v.Total.Acked, v.Members)
			}
		}},
		{name: "lost", fault: "drop", fail: "1 acknowledged deliveries lost", check: func(t *testing.T, v *VerifyReport, _ *Report) {
			if v.Total.Lost != 1 {
				t.Errorf("lost %d, want 1", v.Total.Lost)
			}
		}},
		{name: "duplicated", fault: "dup", fail: "1 duplicate deliveries", check: func(t *testing.T, v *VerifyReport, _ *Report) {
			if v.Total.Duplicates != 1 || v.Total.Lost != 0 {
				t.Errorf("duplicates %d lost %d, want 1 0", v.Total.Duplicates, v.Total.Lost)
			}
		}},
		{name: "out of order", fault: "swap", fail: "1 deliveries out of order", check: func(t *testing.T, v *VerifyReport, _ *Report) {
			if v.Total.OutOfOrder != 1 || v.Total.Lost != 0 {
				t.Errorf("out of order %d lost %d, want 1 0", v.Total.OutOfOrder, v.Total.Lost)
			}
		}},
		{name: "silent seq regression", fault: "regress", fail: "acknowledged deliveries lost", check: func(t *testing.T, v *VerifyReport, _ *Report) {
			if v.Total.Lost == 0 {
				t.Error("no loss counted")
			}
		}},
		{name: "resync covers the missed message", fault: "resync", pass: true, check: func(t *testing.T, v *VerifyReport, rep *Report) {
			if v.Total.Resynced != 1 || v.Total.Lost != 0 || rep.Order.Resyncs != 1 {
				t.Errorf("resynced %d lost %d resyncs %d, want 1 0 1", v.Total.Resynced, v.Total.Lost, rep.Order.Resyncs)
			}
		}},
		{name: "a re-join refused after a resync is sent again", fault: "rejoinfail", pass: true, check: func(t *testing.T, v *VerifyReport, rep *Report) {
			if rep.Connections.RejoinRetries != 1 || v.Total.Lost != 0 || v.Dropped != 0 || v.Total.Delivered+v.Total.Resynced != v.Total.Expected {
				t.Errorf("rejoin retries %d lost %d dropped %d", rep.Connections.RejoinRetries, v.Total.Lost, v.Dropped)
			}
		}},
		{name: "a retry after a timed-out commit is deduplicated", fault: "timeout", pass: true, check: func(t *testing.T, v *VerifyReport, rep *Report) {
			if rep.Messages.Retries != 1 || v.Total.Unacked != 0 || v.Total.Duplicates != 0 || v.Total.Delivered != v.Total.Expected {
				t.Errorf("retries %d unacked %d duplicates %d delivered %d of %d", rep.Messages.Retries, v.Total.Unacked, v.Total.Duplicates, v.Total.Delivered, v.Total.Expected)
			}
		}},
		{name: "a retry delivered twice is a duplicate", fault: "nodedupe", fail: "3 duplicate deliveries", check: func(t *testing.T, v *VerifyReport, rep *Report) {
			if rep.Messages.Retries != 1 || v.Total.Duplicates != 3 {
				t.Errorf("retries %d duplicates %d, want 1 3", rep.Messages.Retries, v.Total.Duplicates)
			}
		}},
		{name: "reconnect with since replays", fault: "close", pass: true, check: func(t *testing.T, v *VerifyReport, rep *Report) {
			if rep.Connections.Reconnects != 1 || v.Total.Delivered != v.Total.Expected || v.Total.Resynced != 0 {
				t.Errorf("reconnects %d, delivered %d of %d, resynced %d", rep.Connections.Reconnects, v.Total.Delivered, v.Total.Expected, v.Total.Resynced)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGateway(t, testSecret, tc.fault)
			cfg := testConfig(g.URL())
			cfg.Verify, cfg.Reconnect, cfg.ReconnectFor, cfg.Retries = true, true, 5*time.Second, 2
			rep := NewRun(cfg, nil).Execute(context.Background())
			if rep.Verify == nil {
				t.Fatal("no verification in the report")
			}
			if tc.pass {
				if !rep.Pass {
					var b bytes.Buffer
					_ = rep.WriteText(&b)
					t.Fatalf("failed: %v\n%s", rep.Failures, b.String())
				}
			} else {
				wantFail(t, rep, tc.fail)
			}
			tc.check(t, rep.Verify, rep)
			t.Logf("\n%s", rep.Verify.Table())
		})
	}
}
