package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewThenCheck scaffolds a plugin into a copy of the module, runs its
// native test, builds it to wasm and checks it with the real host.
func TestNewThenCheck(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	name := "scaffoldtest"
	dir, err := scaffold(root, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(root, dir)) })
	if _, err := scaffold(root, name); err == nil {
		t.Fatal("scaffolding over an existing plugin succeeded")
	}
	goCmd := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goCmd(nil, "test", "./"+dir)
	wasm := filepath.Join(t.TempDir(), name+".wasm")
	goCmd([]string{"GOOS=wasip1", "GOARCH=wasm"}, "build", "-buildmode=c-shared", "-o", wasm, "./"+dir)
	var out strings.Builder
	if err := run([]string{"check", wasm}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ok") {
		t.Fatalf("check output %q", out.String())
	}
}

func TestCheckRejects(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"check", bad}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "not a classgate plugin") {
		t.Fatalf("err = %v", err)
	}
	for _, args := range [][]string{{}, {"new"}, {"frob", "x"}} {
		if err := run(args, &strings.Builder{}); err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
	if _, err := scaffold(".", "Bad-Name"); err == nil {
		t.Error("bad name accepted")
	}
}
