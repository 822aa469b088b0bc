package main

import (
	"bufio"
	"net/http"
	"os"
	"strings"
	"testing"
)

// runtime.gc_percent reaches the Go runtime (read back from the gauge the
// metrics endpoint exports), and a GOGC environment variable wins over it.
func TestGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set in the test environment")
	}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"default", nil, "50"},
		{"configured", []string{"CLASSGATE_RUNTIME__GC_PERCENT=80"}, "80"},
		{"Go's own", []string{"CLASSGATE_RUNTIME__GC_PERCENT=0"}, "100"},
		{"GOGC wins", []string{"CLASSGATE_RUNTIME__GC_PERCENT=80", "GOGC=120"}, "120"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startGateway(t, tt.env...)
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := ""
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gogc_percent "); ok {
					got = v
				}
			}
			if got != tt.want {
				t.Fatalf("go_gc_gogc_percent = %q, want %s", got, tt.want)
			}
		})
	}
}
