package host

import (
	"strings"
	"testing"
)

// TestValidEventType: the protocol's rule for event types (PROTOCOL.md,
// "Version 1.1"), as the host applies it to plugin emits.
func TestValidEventType(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want bool
	}{
		{"chat.message", true},
		{"whiteboard.snapshot", true},
		{"quiz.vote_2-a", true},
		{"a.b", true},
		{"chat." + strings.Repeat("x", 59), true}, // 64 bytes
		{"chat." + strings.Repeat("x", 60), false},
		{"", false},
		{"chat", false},
		{"chat.", false},
		{".message", false},
		{"chat.message.x", false},
		{"Chat.message", false},
		{"chat.mess age", false},
		{"chat.\x00", false},
		{"chat.\n", false},
		{"chat.é", false},
		{"chat.\"x\"", false},
	} {
		if got := validEventType(tc.typ); got != tc.want {
			t.Errorf("validEventType(%q) = %v, want %v", tc.typ, got, tc.want)
		}
	}
}
