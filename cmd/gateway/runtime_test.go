package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/uring"
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
			_, addr := startGateway(t, append([]string{"CLASSGATE_METRICS__PUBLIC=true"}, tt.env...)...)
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

// server.io_uring reaches the server (the startup line says which fan-out
// path runs), and room fan-out works through the real binary either way.
func TestIOUringSetting(t *testing.T) {
	_, ringErr := uring.New(8)
	tests := []struct {
		name string
		env  []string
		want bool
	}{
		{"default", nil, ringErr == nil},
		{"off", []string{"CLASSGATE_SERVER__IO_URING=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, addr := startGateway(t, append([]string{"CLASSGATE_LOG__LEVEL=info"}, tt.env...)...)
			want := fmt.Sprintf(`"io_uring":%v`, tt.want)
			if out := p.Output(); !strings.Contains(out, want) {
				t.Fatalf("startup log lacks %s:\n%s", want, out)
			}
			url := "ws://" + addr + "/ws"
			var members []*e2e.Client
			for i := range 3 {
				c := e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), fmt.Sprintf("u%d", i), "student", []string{"*"}, time.Hour))
				c.Join("r", -1)
				members = append(members, c)
			}
			members[0].Say("r", "m1", "to everyone")
			for _, c := range members[1:] {
				m := c.ExpectType("chat.message")
				if !strings.Contains(string(m.Data), "to everyone") {
					t.Fatalf("got %s", m.Raw)
				}
			}
		})
	}
}
