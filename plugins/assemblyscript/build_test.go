package assemblyscript

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildWithoutNode: on a machine without node/npm, build.sh (run by
// make plugins) skips the AssemblyScript plugins with a message saying
// what to install and succeeds, so the gateway and the Go plugins still
// build; CLASSGATE_AS_REQUIRED=1 turns that into a failure with the same
// message.
func TestBuildWithoutNode(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	// A PATH with the few tools build.sh needs before it looks for node.
	bin := t.TempDir()
	for _, tool := range []string{"dirname", "basename"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	for _, tc := range []struct {
		required bool
		fails    bool
	}{{false, false}, {true, true}} {
		cmd := exec.Command(bash, "build.sh")
		cmd.Env = []string{"PATH=" + bin, "OUT=" + out, "HOME=" + t.TempDir()}
		if tc.required {
			cmd.Env = append(cmd.Env, "CLASSGATE_AS_REQUIRED=1")
		}
		b, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails {
			t.Fatalf("required=%v: err %v, want failure %v\n%s", tc.required, err, tc.fails, b)
		}
		if !strings.Contains(string(b), "not built: node npm not found; install Node.js") {
			t.Fatalf("required=%v: output lacks the reason:\n%s", tc.required, b)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Fatalf("required=%v: wrote %v", tc.required, ents)
		}
	}
}
