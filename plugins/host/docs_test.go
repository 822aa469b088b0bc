package host

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/abi"
)

// abiSection returns the rows of the tables of section n of ABI.md, keyed by
// their first cell (backquotes removed), and the section's text.
func abiSection(t *testing.T, n int) (map[string][]string, string) {
	t.Helper()
	b, err := os.ReadFile("../abi/ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, fmt.Sprintf("\n## %d. ", n))
	if start < 0 {
		t.Fatalf("ABI.md has no section %d", n)
	}
	sec := doc[start+1:]
	if end := strings.Index(sec, "\n## "); end >= 0 {
		sec = sec[:end]
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| ---") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows[strings.Trim(cells[0], "`")] = cells[1:]
	}
	return rows, sec
}

func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0 && n > 1024:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// TestABIDocMatchesCode: the limits and defaults ABI.md §7 quotes are the
// code's constants (plugins/abi, plugins/host/config.go, core).
func TestABIDocMatchesCode(t *testing.T) {
	rows, text := abiSection(t, 7)
	for _, tc := range []struct {
		row, want string
	}{
		{"emits + replies", strconv.Itoa(abi.MaxEmits)},
		{"state operations (`state_set`, `state_del`, `state_clear`)", strconv.Itoa(abi.MaxOps)},
		{"key length", "1–" + size(abi.MaxKeyLen)},
		{"value length", size(abi.MaxValueLen)},
		{"output bytes (event types + data + keys + values set)", size(abi.MaxOutputBytes)},
		{"event type length", size(abi.MaxTypeLen)},
		{"target length", size(abi.MaxTargetLen)},
		{"log line", size(abi.MaxLogLen)},
		{"log lines", strconv.Itoa(abi.MaxLogLines)},
		{"reject / forbid reason", size(abi.MaxRejectLen)},
		{"guest output (stdout + stderr)", fmt.Sprintf("%d bytes", MaxGuestOutput)},
		{"making an instance (instantiation, `_initialize`, `cg_init`)", InitTimeout.String()},
		{"memory_pages", fmt.Sprintf("%d (%s)", DefaultMemoryPages, size(DefaultMemoryPages*64<<10))},
		{"timeout", DefaultTimeout.String()},
		{"pool_size", fmt.Sprintf("max(%d, GOMAXPROCS)", MinDefaultPoolSize)},
		{"on_failure", DefaultOnFailure},
		{"failure_budget", strconv.Itoa(DefaultFailureBudget)},
		{"failure_window", DefaultFailureWindow.String()},
	} {
		cells, ok := rows[tc.row]
		if !ok {
			t.Errorf("ABI.md §7 has no row %q", tc.row)
			continue
		}
		if !strings.HasPrefix(cells[0], tc.want) {
			t.Errorf("ABI.md §7 %s: %q, the code says %q", tc.row, cells[0], tc.want)
		}
	}
	for row, want := range map[string]string{
		"memory_pages":   strconv.Itoa(MaxMemoryPages),
		"timeout":        MaxTimeout.String(),
		"pool_size":      strconv.Itoa(MaxPoolSize),
		"failure_window": MaxFailureWindow.String(),
	} {
		if cells := rows[row]; len(cells) < 2 || cells[1] != want {
			t.Errorf("ABI.md §7 max of %s: %v, the code says %s", row, cells, want)
		}
	}
	if got := DefaultPoolSize(); got < MinDefaultPoolSize {
		t.Errorf("DefaultPoolSize() = %d < %d", got, MinDefaultPoolSize)
	}
	if abi.MaxTypeLen != core.MaxTypeLen {
		t.Errorf("abi.MaxTypeLen %d, core.MaxTypeLen %d: one protocol rule", abi.MaxTypeLen, core.MaxTypeLen)
	}
	if cells := rows["failure_budget"]; len(cells) < 3 || !strings.Contains(cells[2], fmt.Sprintf("at most %d senders", MaxBudgetEntries)) {
		t.Errorf("ABI.md §7 failure_budget does not quote MaxBudgetEntries (%d): %v", MaxBudgetEntries, cells)
	}
	if _, sandbox := abiSection(t, 2); !strings.Contains(sandbox, fmt.Sprintf("the first\n  %d bytes written during a call", MaxGuestOutput)) {
		t.Errorf("ABI.md §2 does not quote the guest output kept, %d bytes", MaxGuestOutput)
	}
	if _, sandbox := abiSection(t, 2); !strings.Contains(sandbox, "more than an eighth of them") || maxDirtyShare != 8 {
		t.Errorf("ABI.md §2 and maxDirtyShare (%d) disagree on when a reset maps the snapshot afresh", maxDirtyShare)
	}
	join := strconv.Itoa(abi.MaxJoinStateBytes)
	join = join[:len(join)-6] + "," + join[len(join)-6:len(join)-3] + "," + join[len(join)-3:]
	if !strings.Contains(text, "`MaxJoinStateBytes` = 1 MiB − 64 = "+join+" bytes") {
		t.Errorf("ABI.md §7 does not state MaxJoinStateBytes = %s", join)
	}
}
