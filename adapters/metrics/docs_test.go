package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/metrics"
)

// registered returns the names of every classgate metric family, with the
// series names a histogram adds.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	m.FrameIn("join")
	m.FrameOut("ack")
	m.Delivered("chat.message", 1, time.Now().UnixMilli())
	m.ErrorSent("internal")
	m.PluginCall("chat", time.Millisecond, nil)
	m.ObservePluginCall("chat", "stable", metrics.OutcomeOK, time.Millisecond)
	m.ObserveStoreOp("commit", time.Millisecond, true)
	m.StoreError("commit")
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

var metricName = regexp.MustCompile(`classgate_[a-z_]+[a-z]`)

// TestGrafanaDashboardUsesRealMetrics: every metric the Grafana dashboard
// queries exists, and the file is valid JSON with panels.
func TestGrafanaDashboardUsesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("../../configs/grafana/classgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("configs/grafana/classgate.json: %v", err)
	}
	names := registered(t)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				if !names[n] {
					t.Errorf("panel %q queries %s, which is not a classgate metric", p.Title, n)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries in the dashboard", queries)
	}
}

// TestOperationsDocListsEveryMetric: docs/OPERATIONS.md names every metric
// family, and names none that does not exist.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	names := registered(t)
	for n := range names {
		if strings.HasSuffix(n, "_bucket") || strings.HasSuffix(n, "_sum") || (strings.HasSuffix(n, "_count") && names[strings.TrimSuffix(n, "_count")]) {
			continue
		}
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/OPERATIONS.md does not document %s", n)
		}
	}
	for _, n := range metricName.FindAllString(doc, -1) {
		if !names[n] {
			t.Errorf("docs/OPERATIONS.md names %s, which is not a classgate metric", n)
		}
	}
}

// TestRetiredNamesGone: the names that counted a call a second time are
// not registered any more, nor queried by the dashboard or named in the
// operations guide (their replacements count the same calls once).
func TestRetiredNamesGone(t *testing.T) {
	names := registered(t)
	dash, err := os.ReadFile("../../configs/grafana/classgate.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range metrics.RetiredNames {
		full := metrics.Namespace + "_" + n
		if names[full] {
			t.Errorf("%s is still registered", full)
		}
		for file, b := range map[string][]byte{"configs/grafana/classgate.json": dash, "docs/OPERATIONS.md": doc} {
			if strings.Contains(string(b), full) {
				t.Errorf("%s still names %s", file, full)
			}
		}
	}
}
