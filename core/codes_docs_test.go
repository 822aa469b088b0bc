package core_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
)

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the text of doc from the heading line to the next
// heading of the same or a higher level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("no section %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	level := strings.Count(strings.Fields(heading)[0], "#")
	for _, l := range []int{1, 2, 3, 4}[:level] {
		if j := strings.Index(rest, "\n"+strings.Repeat("#", l)+" "); j >= 0 {
			rest = rest[:j]
		}
	}
	return rest
}

func codeStrings() []string {
	var s []string
	for _, c := range core.Codes {
		s = append(s, string(c))
	}
	return s
}

// TestProtocolDocListsErrorCodes: docs/PROTOCOL.md's Errors table has one
// row per core.Codes entry, in order, and no other.
func TestProtocolDocListsErrorCodes(t *testing.T) {
	sec := section(t, readDoc(t, "../docs/PROTOCOL.md"), "### Errors")
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(sec, -1) {
		rows = append(rows, m[1])
	}
	if want := codeStrings(); !slices.Equal(rows, want) {
		t.Errorf("docs/PROTOCOL.md \"### Errors\" lists %q; core.Codes (core/errors.go) is %q: edit the table", rows, want)
	}
}

// TestProtocolDocListsCloseCodes: docs/PROTOCOL.md's Close codes paragraph
// names every core.CloseCodes entry, in order, and no other.
func TestProtocolDocListsCloseCodes(t *testing.T) {
	sec := section(t, readDoc(t, "../docs/PROTOCOL.md"), "### Close codes")
	para, _, _ := strings.Cut(strings.TrimSpace(sec), "\n\n")
	var got []int
	for _, m := range regexp.MustCompile("`(\\d{4})`").FindAllStringSubmatch(para, -1) {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	if !slices.Equal(got, core.CloseCodes) {
		t.Errorf("docs/PROTOCOL.md \"### Close codes\" lists %v; core.CloseCodes (core/errors.go) is %v: edit the paragraph", got, core.CloseCodes)
	}
}

// TestBrowserClientTypesListErrorCodes: the protocol part of the
// ErrorCode union in adapters/web/static/classgate.d.ts is core.Codes.
func TestBrowserClientTypesListErrorCodes(t *testing.T) {
	dts := readDoc(t, "../adapters/web/static/classgate.d.ts")
	_, union, ok := strings.Cut(dts, "export type ErrorCode =")
	if !ok {
		t.Fatal("classgate.d.ts has no ErrorCode type")
	}
	union, _, _ = strings.Cut(union, "// client-side")
	var got []string
	for _, m := range regexp.MustCompile(`\| '([a-z_]+)'`).FindAllStringSubmatch(union, -1) {
		got = append(got, m[1])
	}
	if want := codeStrings(); !slices.Equal(got, want) {
		t.Errorf("classgate.d.ts ErrorCode (before // client-side) is %q; core.Codes (core/errors.go) is %q", got, want)
	}
}

// TestBrowserClientCloseCodesAreProtocolCodes: every close code the
// browser client branches on (FATAL_CLOSE_CODES and the reasons it names)
// is one core sends.
func TestBrowserClientCloseCodesAreProtocolCodes(t *testing.T) {
	js := readDoc(t, "../adapters/web/static/classgate.js")
	m := regexp.MustCompile(`FATAL_CLOSE_CODES = Object\.freeze\(\[([0-9, ]+)\]\)`).FindStringSubmatch(js)
	if m == nil {
		t.Fatal("classgate.js has no FATAL_CLOSE_CODES")
	}
	codes := strings.Split(m[1], ",")
	for _, r := range regexp.MustCompile(`(?m)^\s+(\d{4}): '[a-z_]+',$`).FindAllStringSubmatch(js, -1) {
		codes = append(codes, r[1])
	}
	for _, c := range codes {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || !slices.Contains(core.CloseCodes, n) {
			t.Errorf("classgate.js branches on close code %q, which core.CloseCodes (core/errors.go) does not have", c)
		}
	}
}

// TestABIDocQuotesErrorCodes: plugins/abi/ABI.md names the codes a
// plugin's outcome becomes with core's values.
func TestABIDocQuotesErrorCodes(t *testing.T) {
	doc := readDoc(t, "../plugins/abi/ABI.md")
	for _, c := range []core.Code{core.CodePluginError, core.CodeRejected, core.CodeForbidden} {
		if !strings.Contains(doc, "`"+string(c)+"`") {
			t.Errorf("plugins/abi/ABI.md does not name %q (core/errors.go)", c)
		}
	}
}
