package awsapigw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/auth"
)

func TestAuthorizer(t *testing.T) {
	v, err := jwt.New(jwt.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	good, _ := auth.SignHS256(secret, auth.Claims{Subject: "u1", Name: "Ann", Role: "teacher", Rooms: []string{"school-7/*", "x"}, Expiry: exp})
	expired, _ := auth.SignHS256(secret, auth.Claims{Subject: "u1", Expiry: time.Now().Add(-time.Minute).Unix()})
	wrong, _ := auth.SignHS256([]byte("another-secret-another-secret-!!"), auth.Claims{Subject: "u1", Expiry: exp})
	const arn = "arn:aws:execute-api:eu-west-1:123:abc/prod/$connect"
	tests := []struct {
		name   string
		token  string
		deny   bool
		effect string // "" = ErrUnauthorized
	}{
		{"valid", good, false, "Allow"},
		{"no token", "", false, ""},
		{"garbage", "not-a-jwt", false, ""},
		{"expired", expired, false, ""},
		{"wrong secret", wrong, false, ""},
		{"deny mode", wrong, true, "Deny"},
		{"deny mode allows valid", good, true, "Allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAuthorizer(AuthorizerOptions{Verifier: v, Deny: tt.deny})
			if err != nil {
				t.Fatal(err)
			}
			q := map[string]string{}
			if tt.token != "" {
				q["token"] = tt.token
			}
			resp, err := a.Authorize(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: arn, QueryStringParameters: q})
			if tt.effect == "" {
				if !errors.Is(err, ErrUnauthorized) || err.Error() != "Unauthorized" {
					t.Fatalf("err = %v, want Unauthorized", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st := resp.PolicyDocument.Statement
			if len(st) != 1 || st[0].Effect != tt.effect || !slices.Equal(st[0].Resource, []string{arn}) || !slices.Equal(st[0].Action, []string{"execute-api:Invoke"}) {
				t.Fatalf("policy: %+v", resp.PolicyDocument)
			}
			if tt.effect != "Allow" {
				return
			}
			// The context reaches $connect as JSON.
			b, _ := json.Marshal(resp.Context)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			info, err := ConnInfo(m, "C1")
			if err != nil {
				t.Fatal(err)
			}
			want := core.ConnInfo{ID: "C1", User: core.User{ID: "u1", Name: "Ann", Role: "teacher"}, Rooms: []string{"school-7/*", "x"}, Expires: time.Unix(exp, 0)}
			if info.ID != want.ID || info.User != want.User || !slices.Equal(info.Rooms, want.Rooms) || !info.Expires.Equal(want.Expires) {
				t.Fatalf("ConnInfo = %+v, want %+v", info, want)
			}
		})
	}
}

func TestConnInfoFromStringContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     any
		wantErr bool
		exp     int64
	}{
		{"exp as string", map[string]any{CtxUserID: "u", CtxExp: "1764115200", CtxRooms: ""}, false, 1764115200},
		{"exp as number", map[string]any{CtxUserID: "u", CtxExp: float64(1764115200)}, false, 1764115200},
		{"no user", map[string]any{CtxExp: "1"}, true, 0},
		{"no context", nil, true, 0},
		{"bad exp", map[string]any{CtxUserID: "u", CtxExp: "soon"}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := ConnInfo(tt.ctx, "c")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (info.Expires.Unix() != tt.exp || info.Rooms != nil) {
				t.Fatalf("info = %+v", info)
			}
		})
	}
}

func TestEMFLines(t *testing.T) {
	var out bytes.Buffer
	now := time.UnixMilli(1764115200000)
	m := NewEMF(&out, "Classgate", "fn", func() time.Time { return now })
	m.FrameIn("chat.send")
	m.FrameIn("chat.send")
	m.ErrorSent("too_large")
	for i := range 150 {
		m.Invocation("$default", time.Duration(i)*time.Millisecond, nil)
	}
	m.Delivered("chat.message", 3, now.UnixMilli()-20)
	m.PluginCall("chat", time.Millisecond, errors.New("trap"))
	m.Flush()
	type line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	var durations int
	seen := map[string]bool{}
	for sc.Scan() {
		var l line
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		_ = json.Unmarshal(sc.Bytes(), &raw)
		cw := l.AWS.CloudWatchMetrics
		if l.AWS.Timestamp != now.UnixMilli() || len(cw) != 1 || cw[0].Namespace != "Classgate" || raw["Function"] != "fn" {
			t.Fatalf("bad EMF envelope: %s", sc.Text())
		}
		for _, d := range cw[0].Dimensions[0] {
			if _, ok := raw[d]; !ok {
				t.Fatalf("dimension %s has no value: %s", d, sc.Text())
			}
		}
		for _, mt := range cw[0].Metrics {
			v, ok := raw[mt.Name]
			if !ok {
				t.Fatalf("metric %s has no value: %s", mt.Name, sc.Text())
			}
			seen[mt.Name] = true
			if vs, ok := v.([]any); ok {
				if len(vs) > maxValues {
					t.Fatalf("%d values in one line", len(vs))
				}
				if mt.Name == "Duration" {
					durations += len(vs)
				}
			}
		}
	}
	if durations != 150 {
		t.Fatalf("%d Duration values written, want 150", durations)
	}
	for _, want := range []string{"FramesIn", "Errors", "Invocations", "Duration", "Deliveries", "DeliveryLatency", "PluginErrors", "PluginLatency"} {
		if !seen[want] {
			t.Errorf("metric %s missing", want)
		}
	}
	out.Reset()
	m.Flush()
	if strings.TrimSpace(out.String()) != "" {
		t.Fatalf("second flush wrote %s", out.String())
	}
}

// TestRoomsAgree: the rooms a token grants are the same on Lambda (through
// the authorizer context, as API Gateway passes it) as on the standalone
// server (the verified claims): a comma inside a pattern is not a
// separator, "class-7a,*" is not a wildcard.
func TestRoomsAgree(t *testing.T) {
	v, err := jwt.New(jwt.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthorizer(AuthorizerOptions{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rooms []string
	}{
		{"none", nil},
		{"empty list", []string{}},
		{"one", []string{"class-7a"}},
		{"comma then wildcard", []string{"class-7a,*"}},
		{"several", []string{"school-7/*", "x"}},
		{"quotes and brackets", []string{`a"b`, "[c]", `d\`, ""}},
		{"wildcard", []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _ := auth.SignHS256(secret, auth.Claims{Subject: "u1", Rooms: tt.rooms, Expiry: time.Now().Add(time.Hour).Unix()})
			claims, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			standalone := claims.Conn("C1").Rooms
			resp, err := a.Authorize(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: "arn", QueryStringParameters: map[string]string{"token": tok}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(resp.Context) // API Gateway hands it on as JSON
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m[CtxRooms].(string); !ok {
				t.Fatalf("rooms in the context is %T, API Gateway only carries strings, numbers and booleans", m[CtxRooms])
			}
			info, err := ConnInfo(m, "C1")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(standalone, info.Rooms) {
				t.Fatalf("Lambda grants %q, the standalone server %q", info.Rooms, standalone)
			}
		})
	}
}

// TestDecodeRooms: only EncodeRooms' form is accepted; the comma-joined
// form of older authorizers is refused, never split.
func TestDecodeRooms(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"[]", nil, false},
		{`["a","b,*"]`, []string{"a", "b,*"}, false},
		{"a,b", nil, true},
		{"*", nil, true},
		{"null", nil, true},
		{`[1]`, nil, true},
		{`{"a":1}`, nil, true},
	}
	for _, tt := range tests {
		got, err := DecodeRooms(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("DecodeRooms(%q) = %q, %v", tt.in, got, err)
		}
	}
	if _, err := ConnInfo(map[string]any{CtxUserID: "u", CtxRooms: "class-7a,*"}, "c"); err == nil {
		t.Error("ConnInfo accepted a comma-joined rooms value")
	}
}
