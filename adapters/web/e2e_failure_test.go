package web

// Browser tests of the failure paths a class on poor Wi-Fi meets: a server
// that stalls mid-send (SIGSTOP for 25 s), a browser that goes offline
// (DevTools network emulation), a refused token, a token that expires, a
// restart of a gateway with the memory store (history lost), and an
// accessibility scan with axe-core. Same setup as e2e_test.go: a real
// gateway built from ./cmd/gateway, headless Chromium via chromedp.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/classgate/classgate/core/auth"
	"github.com/classgate/classgate/internal/browsertest"
)

const (
	// failureBudget bounds the whole failure-path test: the 25 s stall is
	// its longest step.
	failureBudget = 150 * time.Second
	// stallFor is how long the gateway is stopped: longer than the
	// client's default dead-link bound (pingInterval + pongTimeout, 20 s).
	stallFor = 25 * time.Second
	// recoverBudget bounds the wait for a page to catch up after the
	// network or the server comes back (backoff up to a few seconds).
	recoverBudget = 30 * time.Second
)

// onceJS is a page expression: true when every text in the JSON array is
// shown exactly once in the chat, as sent (acknowledged, with its seq), and
// no seq is shown twice.
const onceJS = `((texts) => {
  const lis = [...document.querySelectorAll('[data-testid=message]')];
  const seqs = lis.map(l => l.dataset.seq).filter(s => s !== '0');
  if (new Set(seqs).size !== seqs.length) return false;
  return texts.every(x => {
    const m = lis.filter(l => l.querySelector('.text').textContent === x);
    return m.length === 1 && m[0].dataset.status === 'sent' && m[0].dataset.seq !== '0';
  });
})(%s)`

// atMostOnceJS is true when no text of the array is shown twice (sending
// or sent) and no seq is shown twice: the invariant at every moment.
const atMostOnceJS = `((texts) => {
  const lis = [...document.querySelectorAll('[data-testid=message]')];
  const seqs = lis.map(l => l.dataset.seq).filter(s => s !== '0');
  if (new Set(seqs).size !== seqs.length) return false;
  return texts.every(x => lis.filter(l => l.querySelector('.text').textContent === x).length <= 1);
})(%s)`

// watchJS installs, in a page, an observer that checks after every change
// of the chat list that no text and no seq is shown twice, and records each
// violation in window.__dups: a duplicate shown for a moment (between a
// broadcast and its ack, say) is caught, not only one still there when the
// test looks.
const watchJS = `(() => {
  window.__dups = [];
  const ol = document.querySelector('[data-testid=messages]');
  new MutationObserver(() => {
    const lis = [...ol.querySelectorAll('[data-testid=message]')];
    const seen = new Set(), seqs = new Set();
    for (const l of lis) {
      const x = l.querySelector('.text').textContent, s = l.dataset.seq;
      if (seen.has(x) || (s !== '0' && seqs.has(s))) window.__dups.push([x, s, lis.length]);
      seen.add(x);
      if (s !== '0') seqs.add(s);
    }
  }).observe(ol, {childList: true, subtree: true});
  return true;
})()`

// noDuplicatesSeen fails when the page's watcher (watchJS) saw a text or a
// seq twice on screen.
func (u *browserUser) noDuplicatesSeen(t *testing.T) {
	t.Helper()
	var dups [][]any
	u.eval(t, `window.__dups || []`, &dups)
	if len(dups) > 0 {
		t.Fatalf("%s: shown twice at some moment: %v", u.name, dups)
	}
}

func jsList(xs ...string) string {
	b, _ := json.Marshal(xs)
	return string(b)
}

// jsStr is s as a JavaScript string literal.
func jsStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// statusOf is a page expression: the data-status of the chat line showing
// text (empty when absent).
func statusOf(text string) string {
	return fmt.Sprintf(`(([...document.querySelectorAll('[data-testid=message]')].find(l => l.querySelector('.text').textContent === %s) || {dataset: {status: ''}}).dataset.status)`, jsStr(text))
}

func TestClassroomFailurePaths(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	gw := startGateway(t)
	base := pageBase(t, gw)
	art := artifactsDir(t)

	ctx, cancel := context.WithTimeout(context.Background(), failureBudget)
	defer cancel()
	browserCtx := browsertest.Start(t, ctx, 1280, 800)

	room := fmt.Sprintf("fail-%d", time.Now().UnixNano())
	teacher := openUser(t, browserCtx, "f-teacher", art, 1280, 800)
	student := openUser(t, browserCtx, "f-student", art, 390, 844)
	teacher.signIn(t, base, "Tina", "teacher", room)
	student.signIn(t, base, "Sam", "student", room)
	var features []string
	teacher.eval(t, `classroom.features`, &features)
	if !contains(features, "chat") {
		t.Skipf("the room has features %v, without chat: the failure paths need it", features)
	}
	parent := t
	step := func(name string, f func(t *testing.T)) {
		if t.Failed() {
			return
		}
		t.Run(name, f)
	}
	both := []*browserUser{teacher, student}
	for _, u := range both {
		u.mustEval(t, watchJS)
	}

	step("a send during a 25 s server stall is shown once on every screen", func(t *testing.T) {
		texts := []string{"sent during the stall", "teacher during the stall"}
		if err := gw.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP: %v", err)
		}
		stopped := time.Now()
		defer func() { _ = gw.cmd.Process.Signal(syscall.SIGCONT) }()
		student.type_(t, `[data-testid=chat-input]`, texts[0]+"\n")
		teacher.mustEval(t, fmt.Sprintf(`(classroom.say(%s), true)`, jsStr(texts[1])))
		student.waitFor(t, "own message shown as sending", statusOf(texts[0])+` === "sending"`)
		teacher.waitFor(t, "own message shown as sending", statusOf(texts[1])+` === "sending"`)
		student.shot(t, "10-stall-sending")
		// Through the stall: never shown twice, never marked failed; the
		// dead link is noticed (the indicator leaves "connected").
		for time.Since(stopped) < stallFor {
			for _, u := range both {
				u.mustEval(t, fmt.Sprintf(atMostOnceJS, jsList(texts...)))
				u.mustEval(t, `!classroom.chat().some(m => m.failed)`)
			}
			time.Sleep(time.Second)
		}
		for _, u := range both {
			// The sends' answer deadline (pongTimeout, 10 s), or else
			// pingInterval + pongTimeout (20 s), < the 25 s stall.
			u.mustEval(t, `classroom.state !== "open" && document.querySelector('[data-testid=conn]').dataset.state !== "open"`)
		}
		student.mustEval(t, statusOf(texts[0])+` === "sending"`)
		student.shot(t, "11-stall-noticed")
		if err := gw.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatalf("SIGCONT: %v", err)
		}
		for _, u := range both {
			u.waitWithin(t, recoverBudget, "both messages once, acknowledged", fmt.Sprintf(onceJS, jsList(texts...)))
			u.waitFor(t, "indicator connected", `document.querySelector('[data-testid=conn]').dataset.state === "open"`)
		}
		student.shot(t, "12-stall-recovered")
		teacher.shot(t, "12-stall-recovered")
		for _, u := range both {
			u.noDuplicatesSeen(t)
		}
	})

	step("a message the server refuses is marked not sent, with retry and discard", func(t *testing.T) {
		// Over the chat plugin's max_length (2000 characters): rejected.
		long := strings.Repeat("x", 2100)
		var res struct {
			OK   bool   `json:"ok"`
			Code string `json:"code"`
		}
		student.eval(t, fmt.Sprintf(`classroom.say(%s)`, jsStr(long)), &res)
		if res.OK || res.Code != "rejected" {
			t.Fatalf("an over-long message answered %+v, want code rejected", res)
		}
		failed := `[...document.querySelectorAll('[data-testid=message][data-status=failed]')]`
		student.waitFor(t, "shown as not sent", failed+`.length === 1 && `+failed+`[0].querySelector('[data-testid=message-retry]') && `+failed+`[0].querySelector('[data-testid=message-discard]')`)
		// On the phone the chat is a tab: open it, as a person would.
		student.click(t, `[data-testid=tab-chat]`)
		student.shot(t, "13-refused-message")
		// Retry sends it again with a new id: refused again, still one line.
		// (Scrolled to the end first, as a person would: on a phone the
		// line is otherwise under the pinned chat input.)
		student.mustEval(t, `(window.scrollTo(0, document.documentElement.scrollHeight), true)`)
		student.click(t, `[data-testid=message-retry]`)
		student.waitFor(t, "retried and refused again", `classroom.errors().filter(e => e.code === "rejected").length >= 2 && `+failed+`.length === 1`)
		student.mustEval(t, `(window.scrollTo(0, document.documentElement.scrollHeight), true)`)
		student.click(t, `[data-testid=message-discard]`)
		student.waitFor(t, "discarded", failed+`.length === 0 && !classroom.chat().some(m => m.text === `+jsStr(long)+`)`)
		teacher.mustEval(t, `!classroom.chat().some(m => m.text === `+jsStr(long)+`)`)
		student.click(t, `[data-testid=tab-board]`)
	})

	step("offline emulation: a send while offline is shown once on every screen", func(t *testing.T) {
		texts := []string{"sent while offline", "teacher while you were offline"}
		student.setOffline(t, true)
		defer student.setOffline(t, false)
		student.waitFor(t, "indicator offline", `document.querySelector('[data-testid=conn]').dataset.state === "offline"`)
		student.type_(t, `[data-testid=chat-input]`, texts[0]+"\n")
		student.waitFor(t, "own message shown as sending", statusOf(texts[0])+` === "sending"`)
		var res struct {
			OK bool `json:"ok"`
		}
		teacher.eval(t, fmt.Sprintf(`classroom.say(%s)`, jsStr(texts[1])), &res)
		if !res.OK {
			t.Fatalf("teacher's message not acknowledged: %+v", res)
		}
		// The offline check (a ping with a 5 s deadline) finds the link dead.
		student.waitWithin(t, recoverBudget, "dead link noticed", `classroom.state !== "open"`)
		student.mustEval(t, fmt.Sprintf(atMostOnceJS, jsList(texts...)))
		student.mustEval(t, statusOf(texts[0])+` === "sending"`)
		teacher.mustEval(t, statusOf(texts[0])+` === ""`)
		student.shot(t, "14-offline")
		student.setOffline(t, false)
		for _, u := range both {
			u.waitWithin(t, recoverBudget, "both messages once, acknowledged", fmt.Sprintf(onceJS, jsList(texts...)))
		}
		student.waitFor(t, "indicator connected", `document.querySelector('[data-testid=conn]').dataset.state === "open"`)
		student.shot(t, "15-back-online")
		for _, u := range both {
			u.noDuplicatesSeen(t)
		}
	})

	step("a page brought back to the front or resumed checks its connection", func(t *testing.T) {
		// Phones hide and freeze background tabs; the page checks its
		// connection (a ping with a 5 s deadline) when it is visible again
		// and when it resumes. The calls are counted in the page. Both are
		// emulated: document.visibilityState overridden and
		// visibilitychange dispatched (headless Chromium has no tab
		// switching), the Page Lifecycle `resume` event dispatched
		// (DevTools' Page.setWebLifecycleState frozen/active did not fire
		// it on a visible headless page).
		student.mustEval(t, `(() => { const c = classroom.client; window.__checks = [];
			const orig = c.checkConnection.bind(c);
			c.checkConnection = (ms) => { window.__checks.push(ms ?? null); return orig(ms); };
			return true; })()`)
		setVisibility := func(state string) {
			student.mustEval(t, `(Object.defineProperty(document, 'visibilityState', {value: "`+state+`", configurable: true}),
				document.dispatchEvent(new Event('visibilitychange')), true)`)
		}
		setVisibility("hidden")
		student.mustEval(t, `window.__checks.length === 0`)
		setVisibility("visible")
		student.waitFor(t, "checked on visible", `window.__checks.length === 1 && window.__checks[0] === 5000`)
		student.mustEval(t, `(document.dispatchEvent(new Event('resume')), true)`)
		student.waitFor(t, "checked on resume", `window.__checks.length === 2 && window.__checks[1] === 5000`)
		// The check is a real ping: the link answers and stays connected, and
		// a message sent next goes through once.
		student.waitFor(t, "still connected", `classroom.state === "open" && document.querySelector('[data-testid=conn]').dataset.state === "open"`)
		student.type_(t, `[data-testid=chat-input]`, "back in front\n")
		for _, u := range both {
			u.waitWithin(t, recoverBudget, "message once, acknowledged", fmt.Sprintf(onceJS, jsList("back in front")))
			u.noDuplicatesSeen(t)
		}
	})

	step("a refused token stops, says so, disables input and offers to sign in again", func(t *testing.T) {
		visitor := openUser(t, browserCtx, "f-visitor", art, 1280, 800)
		visitor.do(t, "open with a bad token", chromedp.Navigate(base+"/?room="+url.QueryEscape(room)+"&token=not-a-valid-token"))
		visitor.waitWithin(t, recoverBudget, "signed out: unauthorized", `classroom.signedOut === "unauthorized" && classroom.state === "closed"`)
		visitor.mustEval(t, `!document.querySelector('[data-testid=signed-out]').hidden`)
		visitor.mustEval(t, `document.querySelector('[data-testid=chat-input]').disabled && document.querySelector('[data-testid=chat-send]').disabled`)
		visitor.mustEval(t, `classroom.authErrors().includes("unauthorized")`)
		visitor.shot(t, "15-refused-token")
		// Sign in again (dev form, prefilled room): the page resumes in place.
		visitor.click(t, `[data-testid=signin-again]`)
		visitor.do(t, "sign in again",
			chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-name]`)),
			chromedp.SendKeys(chromedp.CSS(`[data-testid=login-name]`), "Val"),
			chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		)
		visitor.waitWithin(t, recoverBudget, "resumed", `classroom.state === "open" && classroom.me && classroom.me.name === "Val"`)
		visitor.waitFor(t, "input enabled again", `!document.querySelector('[data-testid=chat-input]').disabled && document.querySelector('[data-testid=signed-out]').hidden`)
		visitor.waitFor(t, "history shown", fmt.Sprintf(onceJS, jsList("sent during the stall", "sent while offline")))
	})

	step("an expired token ends the session cleanly", func(t *testing.T) {
		now := time.Now()
		tok, err := auth.SignHS256([]byte(e2eSecret), auth.Claims{
			Subject: "eve-student", Name: "Eve", Role: "student", Rooms: []string{"*"},
			IssuedAt: now.Unix(), Expiry: now.Add(4 * time.Second).Unix(),
		})
		if err != nil {
			t.Fatal(err)
		}
		eve := openUser(t, browserCtx, "f-expiring", art, 1280, 800)
		eve.do(t, "open with a short token", chromedp.Navigate(base+"/?room="+url.QueryEscape(room)+"&token="+url.QueryEscape(tok)))
		eve.waitFor(t, "connected", `classroom.state === "open"`)
		eve.waitWithin(t, recoverBudget, "signed out: token expired", `classroom.signedOut === "token_expired" && classroom.state === "closed"`)
		eve.mustEval(t, `!document.querySelector('[data-testid=signed-out]').hidden && document.querySelector('[data-testid=chat-input]').disabled`)
		eve.shot(t, "16-token-expired")
	})

	step("a restart of a memory-store gateway is announced, not silent", func(t *testing.T) {
		gw.stop()
		// Registered on the whole test: the new gateway outlives this step.
		next := startGatewayAt(parent, gw.bin, gw.addr, gw.logs)
		*gw = *next
		for _, u := range both {
			u.waitWithin(t, recoverBudget, "history notice", `!document.querySelector('[data-testid=history-notice]').hidden && document.querySelector('[data-testid=history-notice]').dataset.reason === "reset"`)
			u.waitFor(t, "connected", `document.querySelector('[data-testid=conn]').dataset.state === "open"`)
		}
		student.shot(t, "17-restart-notice")
		var res struct {
			OK bool `json:"ok"`
		}
		teacher.eval(t, `classroom.say("after the restart")`, &res)
		if !res.OK {
			t.Fatalf("message after the restart not acknowledged: %+v", res)
		}
		for _, u := range both {
			u.waitFor(t, "new message once", fmt.Sprintf(onceJS, jsList("after the restart")))
		}
		for _, u := range both {
			u.noDuplicatesSeen(t)
		}
	})

	step("axe-core finds no critical or serious violation", func(t *testing.T) {
		axe := axeScript(t)
		teacher.mustEval(t, `(classroom.say("مرحبا بالصف"), true)`)
		teacher.waitFor(t, "rtl message", `[...document.querySelectorAll('[data-testid=message] .text')].some(e => e.textContent === "مرحبا بالصف" && e.dir === "auto")`)
		teacher.axeCheck(t, axe, "classroom (teacher)")
		student.axeCheck(t, axe, "classroom (student, phone)")
		visitor := openUser(t, browserCtx, "f-signin", art, 1280, 800)
		visitor.do(t, "open sign-in", chromedp.Navigate(base+"/?room="+url.QueryEscape(room)))
		visitor.waitFor(t, "sign-in form", `!document.querySelector('[data-testid=login]').hidden`)
		visitor.axeCheck(t, axe, "sign-in")
	})

	step("the board canvas is not a tool button; shortcuts only on the board", func(t *testing.T) {
		teacher.mustEval(t, `!document.querySelector('[data-testid=board]').hasAttribute('aria-pressed') && !document.querySelector('[data-testid=board]').matches('[data-tool]')`)
		teacher.mustEval(t, `(classroom.setTool("pen"), document.querySelector('[data-testid=hand-button]') === null || true)`)
		// "e" typed with a button focused does not switch tools…
		teacher.do(t, "press e on a button", chromedp.Focus(chromedp.CSS(`[data-testid=tool-line]`)), chromedp.KeyEvent("e"))
		teacher.mustEval(t, `document.querySelector('[data-testid=tool-pen]').getAttribute('aria-pressed') === "true"`)
		// …but does with the board focused.
		teacher.do(t, "press e on the board", chromedp.Focus(chromedp.CSS(`[data-testid=board]`)), chromedp.KeyEvent("e"))
		teacher.waitFor(t, "eraser selected", `document.querySelector('[data-testid=tool-eraser]').getAttribute('aria-pressed') === "true"`)
		teacher.mustEval(t, `document.querySelector('main h1') !== null`)
	})
}

// setOffline turns DevTools network emulation on or off for this user's
// tab: every request and WebSocket fails, and the page sees
// navigator.onLine false and the `offline` event.
func (u *browserUser) setOffline(t *testing.T, offline bool) {
	t.Helper()
	u.do(t, fmt.Sprintf("offline=%v", offline), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if err := tg.Call(ctx, "Network.enable", map[string]any{}, nil); err != nil {
			return fmt.Errorf("Network.enable: %w", err)
		}
		// The deprecated Network.emulateNetworkConditions still applies to
		// every request of the tab, WebSockets included.
		if err := tg.Call(ctx, "Network.emulateNetworkConditions", map[string]any{"offline": offline,
			"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}, nil); err != nil {
			return fmt.Errorf("Network.emulateNetworkConditions: %w", err)
		}
		if err := tg.Call(ctx, "Network.overrideNetworkState", map[string]any{"offline": offline,
			"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}, nil); err != nil {
			return fmt.Errorf("Network.overrideNetworkState: %w", err)
		}
		return nil
	}))
}

// axeScript returns the source of axe-core: $CLASSGATE_AXE (a path to
// axe.min.js), or npm's axe-core installed into a temp dir. It skips the
// calling test when neither is available (no npm, no network).
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CLASSGATE_AXE")
	if path == "" {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm not found: axe-core scan skipped (set CLASSGATE_AXE to axe.min.js)")
		}
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, "axe-core@4")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("npm install axe-core failed (offline?): %v\n%s", err, out)
		}
		path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("axe-core: %v", err)
	}
	return string(b)
}

// axeCheck runs axe-core in the page and fails on critical or serious
// violations, listing them.
func (u *browserUser) axeCheck(t *testing.T, axe, what string) {
	t.Helper()
	if _, err := u.evalRaw(`(() => { if (!window.axe) { ` + axe + `
	} return true; })()`); err != nil {
		t.Fatalf("%s: inject axe-core: %v", u.name, err)
	}
	var found []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []string
	}
	u.eval(t, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'critical' || v.impact === 'serious')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, Nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))`, &found)
	if len(found) > 0 {
		u.shot(t, "fail-axe-"+slug(what))
		for _, v := range found {
			t.Errorf("%s: axe %s (%s): %s at %v", what, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}
