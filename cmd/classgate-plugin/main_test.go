package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	if err := run([]string{"check", "-config", `{"max_length":50}`, "-frame", name + `.say={"text":"hi"}`, "-frame", name + `.say={"text":""}`, wasm}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// Every hook ran, and each call is reported with its outcome.
	for _, want := range []string{"join", name + ".say", "leave", "rejected", "reason: text must be a non-empty string", ": ok (8 calls)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("check output lacks %q:\n%s", want, out.String())
		}
	}
	// Each call's time and memory: the first join on a fresh instance
	// writes pages (the Go heap's allocations, the stack), every row has a
	// time and both memory columns.
	row := regexp.MustCompile(`(?m)^  (join|leave|` + name + `\.say) +(teacher|student) +(ok|rejected) +([0-9.]+(µs|ms|s)) +(\d+) KiB +(\d+) KiB `)
	rows := row.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 8 {
		t.Fatalf("%d of 8 calls reported with time, pages written and heap growth:\n%s", len(rows), out.String())
	}
	if rows[0][1] != "join" || rows[0][6] == "0" {
		t.Errorf("the first join wrote %s KiB, want some:\n%s", rows[0][6], out.String())
	}
	if !strings.Contains(out.String(), "written\theap grew") && !strings.Contains(out.String(), "written  heap grew") {
		t.Errorf("no memory columns in the header:\n%s", out.String())
	}
}

// TestCheckFailsBrokenHandlers: a module that loads but whose handler fails
// (on every call, or only on joins) fails the check, which names the
// failures; the loading-only check of old reported "ok" for all of them.
func TestCheckFailsBrokenHandlers(t *testing.T) {
	wasm := buildFailing(t)
	for _, tc := range []struct {
		mode, want, status string
	}{
		{"error", "6 of 6 calls failed", "error"},
		{"panic", "6 of 6 calls failed", "panic"},
		{"join", "2 of 6 calls failed", "error"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var out strings.Builder
			err := run([]string{"check", "-config", `{"mode":"` + tc.mode + `"}`, wasm}, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q\n%s", err, tc.want, out.String())
			}
			if !strings.Contains(out.String(), "broken handler") || !strings.Contains(out.String(), " "+tc.status+" ") {
				t.Fatalf("output does not report the failures as %s:\n%s", tc.status, out.String())
			}
		})
	}
}

// TestCheckFailsBrokenWarmup: a plugin whose warm-up sample fails would
// serve, cold, with a warning in the gateway's log (ABI.md §4a); check
// prints the warning and fails, though every call of its own passes.
func TestCheckFailsBrokenWarmup(t *testing.T) {
	wasm := buildFailing(t)
	var out strings.Builder
	err := run([]string{"check", "-config", `{"mode":"warm"}`, wasm}, &out)
	if err == nil || !strings.Contains(err.Error(), "the host warned while loading it") {
		t.Fatalf("err = %v, want the host's warning to fail the check\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `host warning: msg="plugin warm-up failed; its instances start cold"`) || !strings.Contains(out.String(), "broken warm-up") {
		t.Fatalf("output lacks the warm-up warning:\n%s", out.String())
	}
}

// buildFailing builds testdata/failing to wasm in a temporary directory.
func buildFailing(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "failing.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasm, "./cmd/classgate-plugin/testdata/failing")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return wasm
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
	for _, args := range [][]string{{}, {"new"}, {"frob", "x"}, {"check", "-frame", "x"}, {"check", "-frame", "other.x={}", bad}, {"check", "-config", "[1]", bad}} {
		if err := run(args, &strings.Builder{}); err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
	if _, err := scaffold(".", "Bad-Name"); err == nil {
		t.Error("bad name accepted")
	}
}
