package web

// The page's client options by deployment, in the browser: behind API
// Gateway (?deployment=apigateway here; its own execute-api host names are
// recognised too, tested in classgate.test.mjs) the page pings after 5
// minutes of quiet, and a dead link is still noticed promptly by a member
// who sends: the send's answer deadline, without a ping.

import (
	"context"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/browsertest"
)

func TestPageClientOptionsByDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	gw := startGateway(t)
	base := pageBase(t, gw)
	art := artifactsDir(t)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	browserCtx := browsertest.Start(t, ctx, 1280, 800)
	room := fmt.Sprintf("deploy-%d", time.Now().UnixNano())
	page := base + "/?room=" + url.QueryEscape(room)

	users := map[string]*browserUser{}
	parent := t // the tabs live as long as the whole test
	for _, tc := range []struct {
		name, query, want string
		ping              int
		badParam          bool
	}{
		{"standalone", "", "standalone", 10000, false},
		{"apigateway", "&deployment=apigateway", "apigateway", 300000, false},
		{"unknown", "&deployment=lambda", "standalone", 10000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := openUser(parent, browserCtx, "d-"+tc.name, art, 1280, 800)
			users[tc.name] = u
			u.signInAt(t, page+tc.query, "User "+tc.name, "teacher")
			var got struct {
				Deployment string
				Ping       int
				Options    struct{ PingInterval int }
			}
			u.eval(t, `({deployment: classroom.deployment, ping: classroom.client.pingInterval, options: classroom.clientOptions()})`, &got)
			if got.Deployment != tc.want || got.Ping != tc.ping || got.Options.PingInterval != tc.ping {
				t.Fatalf("page%s: %+v, want deployment %s with pingInterval %d", tc.query, got, tc.want, tc.ping)
			}
			// An unknown ?deployment= is shown, and the page serves on.
			shown := u.isTrue(t, `classroom.errors().some(e => e.code === "bad_request" && e.message.includes("unknown deployment"))`)
			if shown != tc.badParam {
				var errs []map[string]string
				u.eval(t, `classroom.errors()`, &errs)
				t.Fatalf("page%s: error shown %v, want %v (errors: %v)", tc.query, shown, tc.badParam, errs)
			}
		})
	}
	if t.Failed() {
		return
	}

	u := users["apigateway"]
	var features []string
	u.eval(t, `classroom.features`, &features)
	if !contains(features, "chat") {
		t.Skipf("the room has features %v, without chat: the dead-link step needs it", features)
	}
	t.Run("a send on a dead link is noticed within pongTimeout, without a ping", func(t *testing.T) {
		// Count the pings the page writes.
		u.mustEval(t, `(() => { const c = classroom.client; const w = c.write.bind(c); window.pings = 0;
			c.write = (s) => { if (JSON.parse(s).type === 'ping') window.pings++; return w(s); }; return true; })()`)
		if err := gw.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP: %v", err)
		}
		defer func() { _ = gw.cmd.Process.Signal(syscall.SIGCONT) }()
		text := "sent on a dead link"
		u.mustEval(t, fmt.Sprintf(`(classroom.say(%s), true)`, jsStr(text)))
		// pongTimeout (10 s) after the send, well before the 5 min ping.
		u.waitWithin(t, 20*time.Second, "dead link noticed", `classroom.state !== "open"`)
		u.mustEval(t, `window.pings === 0`)
		u.mustEval(t, statusOf(text)+` === "sending"`)
		if err := gw.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatalf("SIGCONT: %v", err)
		}
		u.waitWithin(t, recoverBudget, "the message acknowledged once", fmt.Sprintf(onceJS, jsList(text)))
		u.waitFor(t, "connected again", `classroom.state === "open"`)
	})
}
