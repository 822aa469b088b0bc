package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Guests built once per test binary by TestMain: the test guests of
// testdata and the three real plugins.
var (
	wasmDir  string
	cacheDir string
	guests   = []string{"./plugins/host/testdata/guest", "./plugins/host/testdata/rawguest", "./plugins/host/testdata/abi2guest", "./plugins/host/testdata/snoop",
		"./plugins/chat", "./plugins/whiteboard", "./plugins/presence", "./plugins/poll"}
)

// wasmPath returns the built module of a guest by its base name ("guest").
func wasmPath(name string) string { return filepath.Join(wasmDir, name+".wasm") }

func TestMain(m *testing.M) {
	// Deadlines as configured, however busy the test machine: the tests of
	// the stretch set the lateness themselves (overload_test.go).
	schedLateness = func() time.Duration { return 0 }
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugins/host tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "classgate-host-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	wasmDir = filepath.Join(dir, "wasm")
	cacheDir = filepath.Join(dir, "cache")
	if err := buildGuests(wasmDir, guests); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// buildGuests builds each package with the standard toolchain for wasip1,
// in parallel, from the module root.
func buildGuests(out string, pkgs []string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, pkg := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", filepath.Join(out, filepath.Base(pkg)+".wasm"), pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build %s: %v\n%s", pkg, err, b)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(gomod), nil
}

// newHost builds a Host with the shared compilation cache and closes it at
// the end of the test.
func newHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	cfg.CacheDir = cacheDir
	h, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// one returns a Config serving a single namespace.
func one(ns string, p Plugin) Config {
	return Config{Namespaces: map[string]Plugin{ns: p}}
}
