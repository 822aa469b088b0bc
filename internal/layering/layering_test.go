package layering

import (
	"os/exec"
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

// TestAdaptersImportNoOtherAdapter: each adapter is one technology behind
// core's ports; wiring two together is cmd/...'s job. Test-helper packages
// (…test, e.g. admintest) may use another adapter.
func TestAdaptersImportNoOtherAdapter(t *testing.T) {
	g := packages(t)
	for _, p := range sorted(g) {
		own := adapterOf(p)
		if own == "" || strings.HasSuffix(p, "test") {
			continue
		}
		for _, d := range g[p].deps {
			if other := adapterOf(strings.TrimPrefix(d, module)); strings.HasPrefix(d, module) && other != "" && other != own {
				t.Errorf("%s depends on %s: an adapter imports no other adapter (wire them in cmd/...)", p, strings.TrimPrefix(d, module))
			}
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
func TestStandaloneGatewayLinksNoAWS(t *testing.T) {
	g := packages(t)
	for _, p := range []string{"internal/config", "cmd/gateway"} {
		for _, d := range g[p].deps {
			if strings.HasPrefix(d, "github.com/aws/") || d == module+"adapters/awsapigw" {
				t.Errorf("%s depends on %s", p, d)
			}
		}
	}
}
