package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSelectFaults(t *testing.T) {
	tests := []struct {
		only    string
		want    []string
		wantErr string
	}{
		{only: "", want: []string{"redis-restart", "redis-aof", "redis-pause", "failover", "node-kill"}},
		{only: "node-kill, redis-restart", want: []string{"redis-restart", "node-kill"}}, // plan order, not flag order
		{only: "redis-pause", want: []string{"redis-pause"}},
		{only: "redis-pause,meteor", wantErr: "unknown [meteor]"},
	}
	for _, tc := range tests {
		t.Run(tc.only, func(t *testing.T) {
			plan, err := selectFaults(tc.only)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range plan {
				names = append(names, f.name)
				if f.inject == nil || f.what == "" {
					t.Errorf("fault %s has no inject or description", f.name)
				}
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("plan %v, want %v", names, tc.want)
			}
		})
	}
}

func TestPairs(t *testing.T) {
	m := pairs([]any{"num-slaves", "1", "num-other-sentinels", int64(2)}, nil)
	if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
		t.Errorf("pairs = %v", m)
	}
	if m := pairs(nil, errTest); len(m) != 0 {
		t.Errorf("pairs of an error = %v", m)
	}
}

var errTest = errors.New("test")

// TestDocsQuoteTheDefaults checks that docs/RELIABILITY.md states the
// run's defaults as the code defines them.
func TestDocsQuoteTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/RELIABILITY.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	var o options
	if err := newFlags(&o).Parse(nil); err != nil {
		t.Fatal(err)
	}
	pause := o.opTimeout + time.Second
	for _, want := range []string{
		fmt.Sprintf("`down-after-milliseconds` %d", downAfter.Milliseconds()),
		fmt.Sprintf("%d rooms × %d members", o.rooms, o.users),
		fmt.Sprintf("%.0f durable chat messages a second", o.rate),
		fmt.Sprintf("`store.redis.op_timeout: %s`", o.opTimeout),
		fmt.Sprintf("`CLIENT PAUSE %d ALL`", pause.Milliseconds()),
		fmt.Sprintf("longer than the %s commit timeout", o.opTimeout),
		fmt.Sprintf("After %s of steady load", o.steady),
		fmt.Sprintf("with %s for each fault and its recovery", o.settle),
		fmt.Sprintf("started again %s later", o.down),
		fmt.Sprintf("%d rooms × %d members (%s WebSocket connections)", o.rooms, o.users, thousands(o.rooms*o.users)),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/RELIABILITY.md does not say %q", want)
		}
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	if len(s) > 3 {
		return s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s
}
