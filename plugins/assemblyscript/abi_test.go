package assemblyscript

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/classgate/classgate/plugins/abi"
)

// asConsts reads `export const NAME: T = EXPR;` from an SDK source file;
// EXPR is an integer, -N, 1 << N, or A + B * NAME of earlier constants.
func asConsts(t *testing.T, file string) map[string]int64 {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	val := func(s string) int64 {
		s = strings.TrimSpace(s)
		if v, ok := out[s]; ok {
			return v
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: cannot evaluate %q", file, s)
		}
		return n
	}
	for _, m := range regexp.MustCompile(`(?m)^export const ([A-Z_0-9]+): [a-z0-9]+ = ([^;]+);`).FindAllStringSubmatch(string(src), -1) {
		expr := m[2]
		var v int64
		switch {
		case strings.Contains(expr, "<<"):
			a, b, _ := strings.Cut(expr, "<<")
			v = val(a) << val(b)
		case strings.Contains(expr, "+"):
			a, rest, _ := strings.Cut(expr, "+")
			b, c, _ := strings.Cut(rest, "*")
			v = val(a) + val(b)*val(c)
		default:
			v = val(expr)
		}
		out[m[1]] = v
	}
	return out
}

// asEnum reads the members of `export enum NAME { A = 0, … }`.
func asEnum(t *testing.T, file, name string) map[string]int64 {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(?s)export enum ` + name + ` \{(.*?)\n\}`).FindStringSubmatch(string(src))
	if body == nil {
		t.Fatalf("%s: no enum %s", file, name)
	}
	out := map[string]int64{}
	for _, m := range regexp.MustCompile(`(?m)^\s+([A-Za-z]+) = (\d+),`).FindAllStringSubmatch(body[1], -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		out[m[1]] = n
	}
	return out
}

// TestABIConstantsMatch: the AssemblyScript SDK's copy of the ABI's
// numbers and import names (sdk/abi.ts, sdk/index.ts) agrees with
// plugins/abi, their one source in Go.
func TestABIConstantsMatch(t *testing.T) {
	got := asConsts(t, "sdk/abi.ts")
	want := map[string]int64{
		"STATUS_OK": int64(abi.StatusOK), "STATUS_ERROR": int64(abi.StatusError), "STATUS_BAD_INPUT": int64(abi.StatusBadInput),
		"RESULT_NOT_FOUND": int64(abi.ResultNotFound), "RESULT_INVALID": int64(abi.ResultInvalid),
		"RESULT_LIMIT": int64(abi.ResultLimit), "RESULT_DENIED": int64(abi.ResultDenied),
		"RECORD_VERSION": abi.RecordVersion, "NUM_FIELDS": abi.NumFields, "RECORD_HEADER_SIZE": abi.RecordHeaderSize,
		"FIELD_NAMESPACE": abi.FieldNamespace, "FIELD_TYPE": abi.FieldType, "FIELD_ROOM": abi.FieldRoom, "FIELD_CONN": abi.FieldConn,
		"FIELD_USER_ID": abi.FieldUserID, "FIELD_USER_NAME": abi.FieldUserName, "FIELD_USER_ROLE": abi.FieldUserRole, "FIELD_DATA": abi.FieldData,
		"FLAG_FIRST_OF_USER": int64(abi.FlagFirstOfUser), "FLAG_LAST_OF_USER": int64(abi.FlagLastOfUser), "FLAG_ROOM_EMPTY": int64(abi.FlagRoomEmpty),
		"EMIT_DURABLE": int64(abi.EmitDurable), "EMIT_REPLY": int64(abi.EmitReply),
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("sdk/abi.ts %s = %d (present %v), plugins/abi says %d", name, g, ok, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("sdk/abi.ts %s: not checked against plugins/abi; add it here", name)
		}
	}
	for enum, w := range map[string]map[string]int64{
		"Hook":       {"Message": int64(abi.HookMessage), "Join": int64(abi.HookJoin), "Leave": int64(abi.HookLeave)},
		"TargetKind": {"Room": int64(abi.TargetRoom), "Others": int64(abi.TargetOthers), "Role": int64(abi.TargetRole), "User": int64(abi.TargetUser), "Conn": int64(abi.TargetConn)},
		"Level":      {"Debug": int64(abi.LogDebug), "Info": int64(abi.LogInfo), "Warn": int64(abi.LogWarn), "Error": int64(abi.LogError)},
	} {
		if g := asEnum(t, "sdk/index.ts", enum); !maps.Equal(g, w) {
			t.Errorf("sdk/index.ts enum %s = %v, plugins/abi says %v", enum, g, w)
		}
	}
	src, err := os.ReadFile("sdk/abi.ts")
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, m := range regexp.MustCompile(`@external\("`+abi.ImportModule+`", "([a-z_]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		imports = append(imports, m[1])
	}
	slices.Sort(imports)
	all := []string{abi.ImportLog, abi.ImportStateGet, abi.ImportStateList, abi.ImportStateSet, abi.ImportStateDel,
		abi.ImportStateClear, abi.ImportEmit, abi.ImportReject, abi.ImportForbid, abi.ImportJSONFind}
	slices.Sort(all)
	if !slices.Equal(imports, all) {
		t.Errorf("sdk/abi.ts imports %v from %s, the ABI has %v", imports, abi.ImportModule, all)
	}
}
