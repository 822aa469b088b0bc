package host

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestExportGlobals: the Go guests get every mutable global exported (so
// resets restore snapshots), and modules whose globals cannot be restored
// are refused by exportGlobals (they are then served without snapshots).
func TestExportGlobals(t *testing.T) {
	for _, name := range []string{"chat", "whiteboard", "presence", "guest", "rawguest", "snoop"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(wasmPath(name))
			if err != nil {
				t.Fatal(err)
			}
			rb, names, err := exportGlobals(b)
			if err != nil || len(names) == 0 || len(rb) <= len(b) {
				t.Fatalf("exportGlobals: %d names, %v", len(names), err)
			}
			h := newHost(t, one("t", Plugin{Source: wasmPath(name), PoolSize: 1}))
			v := h.gen.entries["t"].stable
			in := v.pool.idleInstances()[0]
			if len(in.globals) != len(names) || in.snap == nil || in.snap != v.snap {
				t.Fatalf("instance has %d of %d globals, snapshot %v", len(in.globals), len(names), in.snap != nil)
			}
		})
	}
	header := "\x00asm\x01\x00\x00\x00"
	for _, tc := range []struct {
		name, module, want string
	}{
		{"not wasm", "hello", "not a wasm binary"},
		{"mutable v128 global", header + "\x06\x16\x01\x7b\x01\xfd\x0c" + strings.Repeat("\x00", 16) + "\x0b", "mutable global 0 of type 0x7b"},
		{"unknown constant expression", header + "\x06\x05\x01\x7f\x01\x99\x0b", "constant expression opcode 0x99"},
		{"no exports", header + "\x06\x06\x01\x7f\x01\x41\x00\x0b", "no export section"},
		{"section overrun", header + "\x06\x7f\x01", "overruns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := exportGlobals([]byte(tc.module))
			if !errors.Is(err, errNoSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
