package resp

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    any
		wantErr string
	}{
		{name: "simple", in: "+PONG\r\n", want: "PONG"},
		{name: "error", in: "-ERR nope\r\n", wantErr: "ERR nope"},
		{name: "integer", in: ":42\r\n", want: int64(42)},
		{name: "bulk", in: "$5\r\nhello\r\n", want: "hello"},
		{name: "nil bulk", in: "$-1\r\n", want: nil},
		{name: "array", in: "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n", want: []any{"127.0.0.1", "6379"}},
		{name: "truncated bulk", in: "$5\r\nhel", wantErr: "EOF"},
		{name: "garbage", in: "?\r\n", wantErr: "unexpected reply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadReply(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

// TestWriteCommand: a command is an array of bulk strings, binary-safe.
func TestWriteCommand(t *testing.T) {
	var b strings.Builder
	if err := WriteCommand(&b, "SET", "k", "a b\r\n"); err != nil {
		t.Fatal(err)
	}
	if want := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na b\r\n\r\n"; b.String() != want {
		t.Fatalf("wrote %q, want %q", b.String(), want)
	}
}
