package admin_test

// The operator dashboard in real headless Chromium, against the admin API
// on a loopback httptest server with real metrics and a fake node. Skipped
// with -short, or with the reason when Chromium cannot be had
// (scripts/install-chromium.sh is run once when it is missing;
// $CLASSGATE_CHROMIUM names another binary). A screenshot is written to
// $CLASSGATE_ARTIFACTS when set.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/internal/browsertest"
)

const (
	browserBudget = 60 * time.Second
	waitBudget    = 10 * time.Second
)

func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	f := newFixture(t)
	// Some live figures for the page to show.
	for range 3 {
		f.m.Connected(1)
	}
	f.m.Rooms(2)
	f.m.ObservePluginCall("chat", "stable", metrics.OutcomeOK, time.Millisecond)
	f.m.ObservePluginCall("whiteboard", "canary", metrics.OutcomeCrash, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), browserBudget)
	defer cancel()
	bctx := browsertest.Start(t, ctx, 1280, 1000)
	var (
		jsMu     sync.Mutex
		jsErrors []string
	)
	listenErr := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			jsMu.Lock()
			jsErrors = append(jsErrors, exceptionText(e.ExceptionDetails))
			jsMu.Unlock()
		}
	})
	if listenErr != nil {
		t.Fatalf("listen: %v", listenErr)
	}

	p := &page{t: t, ctx: bctx, errs: func() []string {
		jsMu.Lock()
		defer jsMu.Unlock()
		return append([]string(nil), jsErrors...)
	}}
	p.do("open the dashboard", chromedp.Navigate(f.srv.URL+"/admin/?interval=300"), chromedp.WaitVisible(chromedp.CSS("#token")))
	p.waitFor("the script to load", `window.dashboard && dashboard.interval === 300`)
	p.waitFor("the token prompt", `document.getElementById('status').textContent === 'enter the admin token'`)

	t.Run("a wrong token is refused", func(t *testing.T) {
		p.t = t
		p.do("type a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token-xxxxxxxx"), chromedp.Click(chromedp.CSS("#connect")))
		p.waitFor("the 401 status", `document.getElementById('status').textContent.includes('401')`)
		if calls := f.node.Calls(); len(calls) != 0 {
			t.Errorf("node called with a wrong token: %v", calls)
		}
	})

	t.Run("live figures with the token", func(t *testing.T) {
		p.t = t
		p.do("type the token", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#connect")))
		p.waitFor("live status", `document.getElementById('status').textContent === 'live'`)
		p.waitFor("3 connections", `document.getElementById('connections').textContent === '3'`)
		p.waitFor("2 rooms", `document.getElementById('rooms').textContent === '2'`)
		p.waitFor("the plugin table", `document.querySelectorAll('#plugins tbody tr').length === 2`)
		p.waitFor("the crashed canary in red", `[...document.querySelectorAll('#plugins tbody td.bad')].some(td => td.textContent === '1')`)
		p.waitFor("the node name", `document.getElementById('node').textContent === 'node-1 · v-test'`)
		p.waitFor("the room list", `document.querySelectorAll('#room-list tbody tr').length === 2`)
		// Rates appear from the second reading on; more traffic moves them.
		for range 50 {
			f.m.FrameIn("chat.send")
		}
		p.waitFor("a frame rate", `Number(document.getElementById('frames-in').textContent) > 0`)
		p.waitFor("polling", `dashboard.state.polls >= 3`)
		var tokenInStorage string
		p.eval(`sessionStorage.getItem('classgate.admin.token')`, &tokenInStorage)
		if tokenInStorage != token {
			t.Errorf("token kept as %q", tokenInStorage)
		}
		p.shot("dashboard-live")
	})

	t.Run("presence and kick from the page", func(t *testing.T) {
		p.t = t
		p.mustEval(`(() => { const row = [...document.querySelectorAll('#room-list tbody tr')].find(tr => tr.firstChild.textContent === 'school-7/math'); row.querySelector('button').click(); return true; })()`)
		p.waitFor("the presence list", `document.querySelectorAll('#presence-list tbody tr').length === 2`)
		p.mustEval(`(() => { const row = [...document.querySelectorAll('#presence-list tbody tr')].find(tr => tr.firstChild.textContent === 'sam'); row.querySelector('button').click(); return true; })()`)
		p.waitFor("the kick result", `document.getElementById('action-result').textContent.includes('1 connection(s) closed with 4003')`)
		if !contains(f.node.Calls(), "kick sam school-7/math") {
			t.Errorf("node calls %v lack the kick", f.node.Calls())
		}
	})

	t.Run("system message, reload and drain", func(t *testing.T) {
		p.t = t
		p.do("send a message", chromedp.SendKeys(chromedp.CSS("#message-room"), "art"), chromedp.SendKeys(chromedp.CSS("#message-text"), "Class ends in 5 minutes"),
			chromedp.Click(chromedp.CSS("#message-send")))
		p.waitFor("the message result", `document.getElementById('action-result').textContent === 'message sent to art (seq 42)'`)
		p.do("reload", chromedp.Click(chromedp.CSS("#reload")))
		p.waitFor("the reload result", `document.getElementById('action-result').textContent === 'configuration reloaded'`)
		p.mustEval(`(() => { window.confirm = () => true; return true; })()`)
		p.do("drain", chromedp.Click(chromedp.CSS("#drain")))
		p.waitFor("the drain result", `document.getElementById('action-result').textContent.startsWith('node drained')`)
		p.waitFor("the draining status", `document.getElementById('status').textContent === 'draining'`)
		calls := f.node.Calls()
		for _, want := range []string{`broadcast art system.message {"text":"Class ends in 5 minutes"}`, "reload", "drain"} {
			if !contains(calls, want) {
				t.Errorf("node calls %q lack %q", calls, want)
			}
		}
		p.shot("dashboard-drained")
	})

	jsMu.Lock()
	defer jsMu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("JavaScript exceptions: %v", jsErrors)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// page drives one browser tab with bounded waits.
type page struct {
	t   *testing.T
	ctx context.Context
	// errs returns the JavaScript exceptions seen so far.
	errs func() []string
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitBudget)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *page) evalRaw(expr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(p.ctx, waitBudget)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
}

func (p *page) eval(expr string, out any) {
	p.t.Helper()
	raw, err := p.evalRaw(expr)
	if err != nil {
		p.t.Fatalf("eval %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		p.t.Fatalf("eval %s: decode %s: %v", expr, raw, err)
	}
}

func (p *page) mustEval(expr string) {
	p.t.Helper()
	var ok bool
	p.eval(expr, &ok)
	if !ok {
		p.t.Fatalf("expected true: %s", expr)
	}
}

// waitFor polls expr until it is true, for at most waitBudget.
func (p *page) waitFor(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(waitBudget)
	var lastErr error
	for time.Now().Before(deadline) {
		raw, err := p.evalRaw(`(() => { try { return !!(` + expr + `); } catch (e) { return false; } })()`)
		if err == nil && string(raw) == "true" {
			return
		}
		lastErr = err
		if errors.Is(p.ctx.Err(), context.Canceled) || errors.Is(p.ctx.Err(), context.DeadlineExceeded) {
			break
		}
		time.Sleep(40 * time.Millisecond)
	}
	var status, result string
	_ = json.Unmarshal(must(p.evalRaw(`document.getElementById('status').textContent`)), &status)
	_ = json.Unmarshal(must(p.evalRaw(`document.getElementById('action-result').textContent`)), &result)
	p.shot("fail-" + strings.ReplaceAll(what, " ", "-"))
	p.t.Fatalf("timed out waiting for %s (%s); last error %v; status %q, result %q; JavaScript exceptions %v", what, expr, lastErr, status, result, p.errs())
}

func must(b []byte, _ error) []byte { return b }

// shot saves a screenshot to $CLASSGATE_ARTIFACTS (nothing when unset).
func (p *page) shot(name string) {
	dir := os.Getenv("CLASSGATE_ARTIFACTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, waitBudget)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, "admin-"+name+".png")
	if len(b) > 2 && b[0] == 0xff && b[1] == 0xd8 {
		path = strings.TrimSuffix(path, ".png") + ".jpg"
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(path, b, 0o644)
		p.t.Logf("screenshot %s", path)
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}
