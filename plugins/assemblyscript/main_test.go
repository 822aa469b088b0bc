package assemblyscript

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/proc"
)

// The modules under test, built from source by TestMain into a temp dir:
// the Go poll with the standard toolchain, the AssemblyScript poll and
// the SDK's test plugin (testdata/sdkprobe) with build.sh (its compiler
// from npm, cached).
var (
	wasmDir  string
	cacheDir string
	// asMissing says why the AssemblyScript poll could not be built
	// (node or npm not installed); its cases then skip, saying so.
	asMissing string
)

// callTimeout is the plugins' call deadline in the tests: generous, as
// the race detector on 2 shared cores can stall a call past the default.
const callTimeout = 5 * time.Second

// module is one build of the poll plugin.
type module struct {
	name string // "go" or "assemblyscript"
	path string
}

// polls returns both poll builds; the AssemblyScript one skips t's
// subtests when node/npm are missing (build.sh skips it too).
func polls() []module {
	return []module{
		{"go", filepath.Join(wasmDir, "poll.wasm")},
		{"assemblyscript", filepath.Join(wasmDir, "poll-as.wasm")},
	}
}

// need skips t when m could not be built on this machine.
func (m module) need(t *testing.T) {
	t.Helper()
	if m.name == "assemblyscript" && asMissing != "" {
		t.Skip(asMissing)
	}
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugins/assemblyscript tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "classgate-as-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	wasmDir = filepath.Join(dir, "wasm")
	cacheDir = filepath.Join(dir, "cache")
	root, err := proc.ModuleRoot()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(wasmDir, 0o755); err != nil {
		return 0, err
	}
	goBuild := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", filepath.Join(wasmDir, "poll.wasm"), "./plugins/poll")
	goBuild.Dir = root
	goBuild.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := goBuild.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build the Go poll: %v\n%s", err, b)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			asMissing = "AssemblyScript poll not built: " + tool + " not found (install Node.js ≥ 20 with npm)"
		}
	}
	if asMissing == "" {
		as := exec.Command("plugins/assemblyscript/build.sh", "-f", "poll", "testdata/sdkprobe")
		as.Dir = root
		as.Env = append(os.Environ(), "OUT="+wasmDir, "CLASSGATE_AS_REQUIRED=1")
		if b, err := as.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build the AssemblyScript poll: %v\n%s", err, b)
		}
	}
	return m.Run(), nil
}
