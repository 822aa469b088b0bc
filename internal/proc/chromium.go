package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Chromium returns the browser binary for headless tests ($CLASSGATE_CHROMIUM,
// or Debian's chromium on PATH), installing it with
// scripts/install-chromium.sh when none is found; it skips the test when
// that fails.
func Chromium(t testing.TB) string {
	t.Helper()
	look := func() string {
		if p := os.Getenv("CLASSGATE_CHROMIUM"); p != "" {
			return p
		}
		for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if p := look(); p != "" {
		return p
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Skipf("Chromium is missing and the repository root is unknown: %v", err)
	}
	script := filepath.Join(root, "scripts", "install-chromium.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", script).CombinedOutput()
	if err != nil {
		t.Skipf("Chromium is missing and %s failed: %v\n%s", script, err, out)
	}
	if p := look(); p != "" {
		return p
	}
	t.Skipf("Chromium still missing after %s", script)
	return ""
}
