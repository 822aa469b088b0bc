package core_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
)

// TestDocsQuoteLimits: docs/PROTOCOL.md states the wire limits with the
// values the code enforces.
func TestDocsQuoteLimits(t *testing.T) {
	b, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		fmt.Sprintf("| message id | ≤ %d bytes | fixed (`core.MaxIDLen`) |", core.MaxIDLen),
		fmt.Sprintf("| room id | 1–%d bytes of UTF-8, no control characters | fixed (`core.MaxRoomLen`) |", core.MaxRoomLen),
		fmt.Sprintf("| event type | `<namespace>.<action>`, `a-z 0-9 _ -`, ≤ %d bytes | fixed (`core.MaxTypeLen`) |", core.MaxTypeLen),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/PROTOCOL.md does not state %q", want)
		}
	}
}
