package layering

import (
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/classgate/classgate/"

var (
	graphOnce sync.Once
	graph     map[string]pkg
	graphErr  error
)

type pkg struct {
	imports []string // direct imports, production code only
	deps    []string // every dependency, production code only
}

// packages returns the module's packages (by path relative to the module)
// with their imports and dependencies, without test files.
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	graphOnce.Do(func() {
		out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"...").CombinedOutput()
		if err != nil {
			graphErr = err
			graph = map[string]pkg{"": {imports: []string{string(out)}}}
			return
		}
		graph = map[string]pkg{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			parts := strings.SplitN(line, "|", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[0], module) {
				continue
			}
			graph[strings.TrimPrefix(parts[0], module)] = pkg{imports: strings.Fields(parts[1]), deps: strings.Fields(parts[2])}
		}
	})
	if graphErr != nil {
		t.Fatalf("go list: %v\n%s", graphErr, graph[""].imports[0])
	}
	return graph
}

// sorted returns the keys of m in order.
func sorted(m map[string]pkg) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}

// adapterOf returns the adapter a package belongs to ("redis" for
// adapters/redis/redistest), or "".
func adapterOf(path string) string {
	rest, ok := strings.CutPrefix(path, "adapters/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// otherAdapters returns the module-relative dependencies of package p
// (module-relative too) that belong to an adapter other than p's own: an
// adapter's own subpackages (adapters/awsapigw/defaults for
// adapters/awsapigw) are the same adapter, and packages outside adapters/
// (internal/dashstats) none. Test-helper packages (…test, e.g. admintest)
// may use another adapter.
func otherAdapters(p string, deps []string) []string {
	own := adapterOf(p)
	if own == "" || strings.HasSuffix(p, "test") {
		return nil
	}
	var out []string
	for _, d := range deps {
		rel, ok := strings.CutPrefix(d, module)
		if other := adapterOf(rel); ok && other != "" && other != own {
			out = append(out, rel)
		}
	}
	return out
}

// TestOtherAdapters: what the rule below counts as another adapter.
func TestOtherAdapters(t *testing.T) {
	tests := []struct {
		pkg  string
		deps []string
		want []string
	}{
		{"adapters/awsapigw", []string{"adapters/awsapigw/defaults", "core"}, nil},
		{"adapters/admin", []string{"internal/dashstats", "core"}, nil},
		{"adapters/metrics", []string{"internal/dashstats"}, nil},
		{"adapters/admin", []string{"adapters/metrics"}, []string{"adapters/metrics"}},
		{"adapters/redis", []string{"adapters/awsapigw/defaults"}, []string{"adapters/awsapigw/defaults"}},
		{"adapters/awsapigw/defaults", []string{"adapters/awsapigw"}, nil},
		{"adapters/admin/admintest", []string{"adapters/metrics"}, nil},
		{"internal/config", []string{"adapters/awsapigw/defaults", "adapters/redis"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pkg+"→"+strings.Join(tt.deps, ","), func(t *testing.T) {
			deps := make([]string, len(tt.deps))
			for i, d := range tt.deps {
				deps[i] = module + d
			}
			if got := otherAdapters(tt.pkg, append(deps, "fmt")); !slices.Equal(got, tt.want) {
				t.Errorf("otherAdapters = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAdaptersImportNoOtherAdapter: each adapter is one technology behind
// core's ports; wiring two together is cmd/...'s job. What two adapters
// share lives outside adapters/ (internal/dashstats).
func TestAdaptersImportNoOtherAdapter(t *testing.T) {
	g := packages(t)
	for _, p := range sorted(g) {
		for _, d := range otherAdapters(p, g[p].deps) {
			t.Errorf("%s depends on %s: an adapter imports no other adapter (wire them in cmd/...)", p, d)
		}
	}
}

// TestPluginHostImportsNoGuestPackage: the host runs guests; it shares the
// ABI with them (plugins/abi/...) but imports nothing written for the
// guest side.
func TestPluginHostImportsNoGuestPackage(t *testing.T) {
	g := packages(t)
	for _, p := range sorted(g) {
		if p != "plugins/host" && !strings.HasPrefix(p, "plugins/host/") {
			continue
		}
		for _, d := range g[p].deps {
			rel, ok := strings.CutPrefix(d, module)
			if !ok || !strings.HasPrefix(rel, "plugins/") {
				continue
			}
			if !strings.HasPrefix(rel, "plugins/host") && !strings.HasPrefix(rel, "plugins/abi") && rel != "plugins/embedded" {
				t.Errorf("%s depends on %s: the plugin host imports only plugins/abi/... and plugins/embedded of the plugin tree", p, rel)
			}
		}
	}
}

// TestOnlyCmdImportsConfig: internal/config is the composition layer (it
// knows every component's options); components do not read it.
func TestOnlyCmdImportsConfig(t *testing.T) {
	g := packages(t)
	for _, p := range sorted(g) {
		if strings.HasPrefix(p, "cmd/") || strings.HasPrefix(p, "internal/config") {
			continue
		}
		for _, d := range g[p].imports {
			if d == module+"internal/config" {
				t.Errorf("%s imports internal/config: only cmd/... may", p)
			}
		}
	}
}

// TestStandaloneGatewayLinksNoAWS: the AWS SDK stays in the Lambda adapter;
// the configuration, and so the standalone gateway, do not pull it in.
// Of the Lambda adapter they use only its SDK-free leaf of defaults.
func TestStandaloneGatewayLinksNoAWS(t *testing.T) {
	g := packages(t)
	for _, p := range []string{"internal/config", "cmd/gateway"} {
		if _, ok := g[p]; !ok {
			t.Fatalf("no package %s", p)
		}
		for _, d := range g[p].deps {
			rel, _ := strings.CutPrefix(d, module)
			if strings.HasPrefix(d, "github.com/aws/") || adapterOf(rel) == "awsapigw" && rel != "adapters/awsapigw/defaults" {
				t.Errorf("%s depends on %s", p, d)
			}
		}
	}
}

// leaves are the packages two layers share that must stay leaves: they
// import the standard library only.
var leaves = []string{
	"adapters/awsapigw/defaults", // the lambda.* defaults: awsapigw and internal/config
	"internal/dashstats",         // the dashboard summary: adapters/metrics and adapters/admin
}

// TestLeavesImportStdlibOnly: see leaves.
func TestLeavesImportStdlibOnly(t *testing.T) {
	g := packages(t)
	for _, p := range leaves {
		pk, ok := g[p]
		if !ok {
			t.Errorf("no package %s", p)
			continue
		}
		for _, d := range pk.deps {
			// A standard-library path has no dot in its first element.
			if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") {
				t.Errorf("%s depends on %s: a shared leaf imports the standard library only", p, d)
			}
		}
	}
}
