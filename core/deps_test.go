package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRule enforces the architecture mechanically: core/... and
// the guest plugin SDK import only the standard library (and core itself).
func TestDependencyRule(t *testing.T) {
	tests := []struct {
		pkgs    string
		allowed []string
	}{
		{"github.com/classgate/classgate/core/...", []string{"github.com/classgate/classgate/core"}},
		{"github.com/classgate/classgate/plugins/sdk/...", []string{"github.com/classgate/classgate/plugins/sdk", "github.com/classgate/classgate/plugins/abi", "github.com/classgate/classgate/core/eventtype"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkgs, func(t *testing.T) {
			// Test files may use test-only helpers; the rule is about what
			// production code pulls in.
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", tt.pkgs).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, p := range strings.Fields(string(out)) {
				ok := false
				for _, a := range tt.allowed {
					if p == a || strings.HasPrefix(p, a+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s depends on %s: only the standard library is allowed", tt.pkgs, p)
				}
			}
		})
	}
}
