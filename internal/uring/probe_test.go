//go:build linux

package uring

import (
	"strings"
	"testing"
)

// TestProbed reads struct io_uring_probe replies: the ring is used only
// when the kernel flags both IORING_OP_SEND and IORING_OP_RECV supported.
func TestProbed(t *testing.T) {
	reply := func(lastOp int, supported ...int) []byte {
		b := make([]byte, 16+probeOps*8)
		b[0], b[1] = byte(lastOp), byte(lastOp+1)
		for _, op := range supported {
			b[16+op*8] = byte(op)
			b[16+op*8+2] = opSupported
		}
		return b
	}
	tests := []struct {
		name    string
		buf     []byte
		missing string // the operation the error names; "" = usable
	}{
		{"send and recv", reply(opRecv+10, opSend, opRecv), ""},
		{"no send (flag clear)", reply(opRecv+10, opRecv), "IORING_OP_SEND"},
		{"no recv (flag clear)", reply(opRecv+10, opSend), "IORING_OP_RECV"},
		{"kernel too old (last op before send)", reply(opSend-1, 1, 2, 3), "IORING_OP_SEND"},
		{"nothing supported", reply(0), "IORING_OP_SEND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := probed(tt.buf)
			switch {
			case tt.missing == "" && err != nil:
				t.Fatalf("probed = %v, want usable", err)
			case tt.missing != "" && (err == nil || !strings.Contains(err.Error(), tt.missing)):
				t.Fatalf("probed = %v, want an error naming %s", err, tt.missing)
			}
		})
	}
}
