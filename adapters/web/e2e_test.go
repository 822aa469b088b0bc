package web

// Browser tests: the classroom page in real headless Chromium against a real
// gateway built from ./cmd/gateway, a teacher and a student in two isolated
// browser contexts. Everything runs on 127.0.0.1 with bounded timeouts.
//
// Needs: the gateway (built by the test), Chromium (/usr/bin/chromium;
// scripts/install-chromium.sh is run once when it is missing). Skipped with
// -short, or with the reason when either cannot be had.
//
// Screenshots go to $CLASSGATE_ARTIFACTS, or to testdata/artifacts/
// (gitignored). $CLASSGATE_GATEWAY_BIN runs a prebuilt gateway instead of
// building one; $CLASSGATE_CHROMIUM names the browser binary.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/classgate/classgate/internal/browsertest"
	"github.com/classgate/classgate/internal/proc"
)

const (
	// e2eBudget bounds the whole browser test.
	e2eBudget = 120 * time.Second
	// waitBudget bounds each wait for something to appear in a page.
	waitBudget = 10 * time.Second
)

func TestClassroomInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	gw := startGateway(t)
	base := pageBase(t, gw)
	art := artifactsDir(t)

	ctx, cancel := context.WithTimeout(context.Background(), e2eBudget)
	defer cancel()
	browserCtx := browsertest.Start(t, ctx, 1280, 800)

	room := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	teacher := openUser(t, browserCtx, "teacher", art, 1280, 800)
	student := openUser(t, browserCtx, "student", art, 390, 844) // phone-sized

	step := func(name string, f func(t *testing.T)) {
		if t.Failed() {
			return
		}
		t.Run(name, f)
	}

	// Sign in through the dev form, as a person would.
	teacher.signIn(t, base, "Tina", "teacher", room)
	student.signIn(t, base, "Sam", "student", room)
	teacher.shot(t, "01-signed-in-teacher")
	student.shot(t, "01-signed-in-student")
	var features []string
	teacher.eval(t, `classroom.features`, &features)
	plugins := contains(features, "chat") && contains(features, "presence") && contains(features, "whiteboard")
	if !plugins {
		// Without the classroom plugins only the connection can be tested.
		step("a server-side close reconnects (no plugins)", func(t *testing.T) {
			student.kickAndResume(t, gw, func() {})
		})
		t.Skipf("the gateway's room has features %v, not chat+presence+whiteboard: plugin steps skipped", features)
	}

	step("presence and role controls", func(t *testing.T) {
		teacher.waitFor(t, "student listed", `classroom.presence().some(p => p.name === "Sam" && p.role === "student")`)
		student.waitFor(t, "teacher listed", `classroom.presence().some(p => p.name === "Tina" && p.role === "teacher")`)
		teacher.waitFor(t, "teacher sees the clear button", `!document.querySelector('[data-testid=clear]').hidden`)
		student.waitFor(t, "student has no clear button", `document.querySelector('[data-testid=clear]').hidden`)
		teacher.waitFor(t, "teacher has no raise-hand button", `document.querySelector('[data-testid=hand-button]').hidden`)
		student.mustEval(t, `!document.querySelector('[data-testid=hand-button]').hidden`)
	})

	step("layout: tabs, chat input in view, 44 px touch targets on phone and tablet", func(t *testing.T) {
		// The phone (390×844, touch) and a tablet (768×1024, touch): board,
		// chat and people as tabs, each showing its view alone; on every
		// tab the chat input is within the viewport; every visible control
		// at least 44×44 CSS px; input and message text at least 16 px, no
		// visible text under 12 px. Measured with getBoundingClientRect and
		// getComputedStyle.
		student.checkNarrowLayout(t, "390x844")
		teacher.do(t, "tablet", chromedp.EmulateViewport(768, 1024, chromedp.EmulateMobile, chromedp.EmulateTouch))
		teacher.checkNarrowLayout(t, "768x1024")
		// A laptop (1366×768): no tabs, board, people and chat side by
		// side, the input in view without scrolling.
		teacher.do(t, "laptop", chromedp.EmulateViewport(1366, 768))
		teacher.waitFor(t, "no tabs on a laptop", `getComputedStyle(document.querySelector('[data-testid=tab-board]').parentElement).display === "none"`)
		teacher.mustEval(t, `['board', 'messages', 'presence'].every(id => document.querySelector('[data-testid=' + id + ']').getBoundingClientRect().height > 0)`)
		teacher.mustEval(t, chatInputInView)
		teacher.shot(t, "layout-1366x768")
		teacher.do(t, "restore", chromedp.EmulateViewport(1280, 800))
	})

	step("a stroke drawn by the teacher appears on the student's board", func(t *testing.T) {
		// A freehand stroke with the mouse, left to right across the board.
		r := teacher.boardRect(t)
		from := [2]float64{r.X + 0.25*r.W, r.Y + 0.5*r.H}
		to := [2]float64{r.X + 0.75*r.W, r.Y + 0.5*r.H}
		teacher.drag(t, from, to, 12)
		teacher.waitFor(t, "stroke committed", `classroom.elements().length === 1`)
		student.waitFor(t, "stroke received", `classroom.elements().some(e => e.kind === "stroke" && e.points.length >= 2)`)
		// The middle of the stroke (board units 800,500) is inked on the
		// student's (phone-sized) canvas; away from it the board stays white.
		student.waitFor(t, "stroke rendered", `classroom.ink(800, 500, 12) < 160`)
		student.mustEval(t, `classroom.ink(800, 200, 12) === 255`)
		// Screen readers get a description of what the canvas shows.
		student.waitFor(t, "board described", `document.querySelector('[data-testid=board-desc]').textContent === "The board has 1 drawing."`)
		teacher.shot(t, "02-stroke-teacher")
		student.shot(t, "02-stroke-student")
	})

	step("live cursors, shapes and the eraser", func(t *testing.T) {
		r := teacher.boardRect(t)
		// Hovering shows the teacher's named cursor on the student's board.
		teacher.do(t, "hover", chromedp.MouseEvent(chromedp.MouseMoved, r.X+0.5*r.W, r.Y+0.2*r.H),
			chromedp.MouseEvent(chromedp.MouseMoved, r.X+0.52*r.W, r.Y+0.22*r.H))
		student.waitFor(t, "teacher's cursor", `classroom.cursors().some(c => c.name === "Tina" && c.visible)`)
		student.waitFor(t, "cursor label", `[...document.querySelectorAll('[data-testid=cursor]')].some(e => !e.hidden && e.textContent === "Tina")`)
		// A rectangle with the rectangle tool…
		teacher.click(t, `[data-testid=tool-rect]`)
		teacher.drag(t, [2]float64{r.X + 0.1*r.W, r.Y + 0.1*r.H}, [2]float64{r.X + 0.2*r.W, r.Y + 0.25*r.H}, 4)
		student.waitFor(t, "rectangle received", `classroom.elements().some(e => e.kind === "rect")`)
		student.shot(t, "02-rect-and-cursor-student")
		// …erased by clicking it with the eraser.
		teacher.click(t, `[data-testid=tool-eraser]`)
		teacher.clickAt(t, r.X+0.15*r.W, r.Y+0.17*r.H)
		student.waitFor(t, "rectangle erased", `!classroom.elements().some(e => e.kind === "rect") && classroom.elements().length === 1`)
		teacher.click(t, `[data-testid=tool-pen]`)
	})

	step("chat both ways with a typing indicator", func(t *testing.T) {
		teacher.type_(t, `[data-testid=chat-input]`, "Welcome to class!\n")
		student.waitFor(t, "teacher's message", `classroom.chat().some(m => m.text === "Welcome to class!" && m.from.name === "Tina" && m.seq > 0)`)
		student.type_(t, `[data-testid=chat-input]`, "Thank you")
		teacher.waitFor(t, "typing indicator", `document.querySelector('[data-testid=typing]').textContent.includes("Sam is typing")`)
		student.type_(t, `[data-testid=chat-input]`, "\n")
		teacher.waitFor(t, "student's message", `classroom.chat().some(m => m.text === "Thank you" && m.from.name === "Sam")`)
		teacher.waitFor(t, "message in the DOM", `[...document.querySelectorAll('[data-testid=message] .text')].some(e => e.textContent === "Thank you")`)
		// On the phone's board tab, the teacher's message is counted on the
		// Chat tab; opening it shows the message and clears the count.
		student.mustEval(t, `classroom.tab === "board" && document.querySelector('[data-testid=chat-unread]').textContent === "1" && !document.querySelector('[data-testid=chat-unread]').hidden`)
		student.click(t, `[data-testid=tab-chat]`)
		student.waitFor(t, "message visible on the chat tab", `[...document.querySelectorAll('[data-testid=message] .text')].some(e => e.textContent === "Welcome to class!" && e.getBoundingClientRect().height > 0)`)
		student.mustEval(t, `document.querySelector('[data-testid=chat-unread]').hidden`)
		student.shot(t, "03-chat-tab-student")
		student.click(t, `[data-testid=tab-board]`)
		teacher.shot(t, "03-chat-teacher")
		student.shot(t, "03-chat-student")
	})

	step("a raised hand is visible to the teacher", func(t *testing.T) {
		student.click(t, `[data-testid=hand-button]`)
		student.waitFor(t, "own hand shown raised", `document.querySelector('[data-testid=hand-button]').getAttribute('aria-pressed') === "true"`)
		teacher.waitFor(t, "hand in presence", `classroom.presence().some(p => p.name === "Sam" && p.status === "hand_raised")`)
		teacher.waitFor(t, "hand in the DOM", `[...document.querySelectorAll('[data-testid=person][data-status=hand_raised]')].some(e => e.textContent.includes("Sam"))`)
		teacher.waitFor(t, "hand counter", `!document.querySelector('[data-testid=hand-count]').hidden`)
		// Hard to miss: first in the list, counted in the title, a chime
		// (attempted: headless has no audio), and on the phone's People tab.
		teacher.mustEval(t, `document.querySelector('[data-testid=person]').dataset.status === "hand_raised"`)
		teacher.mustEval(t, `document.title.startsWith("(✋ 1) ") && classroom.chimes >= 1`)
		student.mustEval(t, `!document.querySelector('[data-testid=tab-hands]').hidden`)
		student.mustEval(t, `document.querySelector('[data-testid=lower-hand]') === null`)
		teacher.shot(t, "04-hand-teacher")
		// A student cannot lower anyone's hand (presence.lower_hand is
		// teacher-only): forbidden.
		var res struct {
			OK   bool   `json:"ok"`
			Code string `json:"code"`
		}
		student.eval(t, `classroom.lowerHand(classroom.me.id)`, &res)
		if res.OK || res.Code != "forbidden" {
			t.Fatalf("student's lower_hand answered %+v, want code forbidden", res)
		}
		// The teacher lowers it with the button on the student's line.
		teacher.click(t, `[data-testid=person][data-status=hand_raised] [data-testid=lower-hand]`)
		teacher.waitFor(t, "hand lowered", `classroom.presence().some(p => p.name === "Sam" && p.status !== "hand_raised")`)
		teacher.waitFor(t, "hand counter gone", `document.querySelector('[data-testid=hand-count]').hidden && !document.title.startsWith("(")`)
		student.waitFor(t, "student sees own hand down", `document.querySelector('[data-testid=hand-button]').getAttribute('aria-pressed') === "false"`)
	})

	step("the student's clear is refused", func(t *testing.T) {
		var res struct {
			OK   bool   `json:"ok"`
			Code string `json:"code"`
		}
		student.eval(t, `classroom.clear()`, &res)
		if res.OK || res.Code != "forbidden" {
			t.Fatalf("student's clear answered %+v, want code forbidden", res)
		}
		student.waitFor(t, "refusal shown", `(() => { const t = document.querySelector('[data-testid=toast]'); return !t.hidden && t.dataset.code === "forbidden"; })()`)
		student.shot(t, "05-clear-refused-student")
		// Both boards still have the stroke (the refusal broadcast nothing).
		teacher.mustEval(t, `classroom.elements().length === 1`)
		student.mustEval(t, `classroom.elements().length === 1`)
	})

	step("erase rights as the whiteboard is configured", func(t *testing.T) {
		// The snapshot told each page what its role may do (defaults:
		// teachers clear and erase anything, students erase their own).
		teacher.mustEval(t, `JSON.stringify(classroom.can) === '{"clear":true,"eraseAny":true,"eraseOwn":true}'`)
		student.mustEval(t, `JSON.stringify(classroom.can) === '{"clear":false,"eraseAny":false,"eraseOwn":true}'`)
		student.mustEval(t, `!document.querySelector('[data-testid=tool-eraser]').hidden`)
		// The student's eraser on the teacher's stroke: not sent, said so.
		student.click(t, `[data-testid=tool-eraser]`)
		r := student.boardRect(t)
		click := func(x, y float64) { student.clickAt(t, r.X+x/1600*r.W, r.Y+y/1000*r.H) } // board units
		errs := 0
		student.eval(t, `classroom.errors().length`, &errs)
		click(800, 500)
		student.waitFor(t, "refused locally", fmt.Sprintf(`classroom.errors().length === %d && classroom.errors().at(-1).message.includes("only your own")`, errs+1))
		teacher.mustEval(t, `classroom.elements().length === 1`)
		// Their own rectangle they erase.
		var res struct {
			OK bool `json:"ok"`
		}
		student.eval(t, `classroom.draw({kind: "rect", points: [[100, 800], [400, 950]], color: "#2f6fed", width: 8})`, &res)
		if !res.OK {
			t.Fatal("student's rectangle not acknowledged")
		}
		teacher.waitFor(t, "student's rectangle", `classroom.elements().length === 2`)
		click(100, 875)
		teacher.waitFor(t, "student's rectangle erased", `classroom.elements().length === 1 && classroom.elements()[0].kind === "stroke"`)
		student.click(t, `[data-testid=tool-pen]`)
	})

	step("a reload restores board and chat", func(t *testing.T) {
		student.reload(t)
		student.waitFor(t, "reconnected", `classroom.state === "open"`)
		student.waitFor(t, "board restored", `classroom.elements().length === 1 && classroom.elements()[0].kind === "stroke"`)
		student.waitFor(t, "stroke re-rendered", `classroom.ink(800, 500, 12) < 160`)
		student.waitFor(t, "chat restored", `["Welcome to class!", "Thank you"].every(x => classroom.chat().some(m => m.text === x))`)
		// History is honest: the restored messages (from chat.history) keep
		// the time they were sent, shown on every line.
		student.mustEval(t, `classroom.chat().length >= 2 && classroom.chat().every(m => m.ts > 1.7e12 && m.ts <= Date.now())`)
		student.mustEval(t, `(() => { const ts = [...document.querySelectorAll('[data-testid=message] time')];
			return ts.length >= 2 && ts.every(e => e.hasAttribute('datetime') && !e.classList.contains('unknown')); })()`)
		student.shot(t, "06-reloaded-student")
	})

	step("a server-side close reconnects and shows what was sent meanwhile", func(t *testing.T) {
		student.kickAndResume(t, gw, func() {
			var res struct {
				OK  bool    `json:"ok"`
				Seq float64 `json:"seq"`
			}
			teacher.eval(t, `classroom.say("sent while you were away")`, &res)
			if !res.OK {
				t.Fatalf("teacher's message not acknowledged: %+v", res)
			}
			teacher.eval(t, `classroom.draw({kind: "rect", points: [[100, 100], [400, 300]], color: "#2f6fed", width: 6})`, &res)
			if !res.OK {
				t.Fatalf("teacher's rectangle not acknowledged: %+v", res)
			}
			student.mustEval(t, `!classroom.chat().some(m => m.text === "sent while you were away")`)
		})
		student.waitFor(t, "missed message shown", `classroom.chat().some(m => m.text === "sent while you were away" && m.from.name === "Tina")`)
		student.waitFor(t, "missed drawing shown", `classroom.elements().some(e => e.kind === "rect")`)
		student.waitFor(t, "no duplicates", `(() => { const s = classroom.chat().map(m => m.seq); return s.length === new Set(s).size; })()`)
		student.shot(t, "08-resumed-student")
		teacher.shot(t, "08-resumed-teacher")
	})

	step("screenshots for the docs", func(t *testing.T) {
		// README.md shows these (docs/classroom-*.png are copies).
		student.click(t, `[data-testid=hand-button]`)
		teacher.waitFor(t, "hand shown", `!!document.querySelector('[data-testid=lower-hand]')`)
		teacher.do(t, "resize", chromedp.EmulateViewport(1366, 768))
		teacher.waitFor(t, "board drawn", `classroom.ink(800, 500, 12) < 160`)
		teacher.shot(t, "doc-classroom-1366x768")
		student.shot(t, "doc-classroom-390x844")
		student.click(t, `[data-testid=tab-chat]`)
		student.shot(t, "doc-classroom-390x844-chat")
		student.click(t, `[data-testid=tab-board]`)
		teacher.click(t, `[data-testid=lower-hand]`)
		student.waitFor(t, "hand lowered", `document.querySelector('[data-testid=hand-button]').getAttribute('aria-pressed') === "false"`)
	})

	step("a long chat shows its newest lines and pages back through the rest", func(t *testing.T) {
		// 60 more messages: with what is there, more than one page (50).
		var n int
		teacher.eval(t, `(async () => { for (let i = 1; i <= 60; i++) { const r = await classroom.say("line " + i); if (!r.ok) return -i; } return classroom.chat().length; })()`, &n)
		if n < 61 {
			t.Fatalf("teacher's lines: %d (a negative number is the refused one)", n)
		}
		student.waitFor(t, "all lines received", `classroom.chat().some(m => m.text === "line 60")`)
		student.click(t, `[data-testid=tab-chat]`)
		lines := `document.querySelectorAll('[data-testid=message]').length`
		student.waitFor(t, "newest page shown", lines+` === 50 && !!document.querySelector('[data-testid=chat-earlier]')`)
		student.mustEval(t, `[...document.querySelectorAll('[data-testid=message] .text')].at(-1).textContent === "line 60"`)
		// Opening the tab shows the newest line, above the pinned input.
		student.mustEval(t, `(() => { const l = [...document.querySelectorAll('[data-testid=message]')].at(-1).getBoundingClientRect();
			const f = document.querySelector('.chat-form').getBoundingClientRect(); return l.top >= 0 && l.bottom <= f.top + 1; })()`)
		student.shot(t, "09-chat-paged")
		for student.isTrue(t, `!!document.querySelector('[data-testid=chat-earlier]')`) {
			student.click(t, `[data-testid=chat-earlier]`)
		}
		student.mustEval(t, lines+` === classroom.chat().length && [...document.querySelectorAll('[data-testid=message] .text')][0].textContent === classroom.chat()[0].text`)
		student.click(t, `[data-testid=tab-board]`)
	})
}

// ---------------------------------------------------------------- gateway

type gatewayProc struct {
	url  string // http://127.0.0.1:port
	addr string
	bin  string
	logs *lockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// startGateway builds ./cmd/gateway and runs it in dev mode on a free
// loopback port. It skips the test when the gateway cannot be built.
func startGateway(t *testing.T) *gatewayProc {
	t.Helper()
	bin := os.Getenv("CLASSGATE_GATEWAY_BIN") // a prebuilt gateway, e.g. from CI
	if bin == "" {
		bin = proc.Build(t, "gateway")
	}
	return startGatewayAt(t, bin, proc.FreeAddr(t), &lockedBuffer{})
}

// e2eSecret is the HS256 secret of the test gateway (tests sign tokens with
// it, e.g. one that expires in seconds).
const e2eSecret = "e2e-secret-0123456789-abcdefghijklmnop"

// startGatewayAt runs bin in dev mode (memory store) on addr and waits
// until it is healthy; it is stopped at cleanup.
func startGatewayAt(t *testing.T, bin, addr string, logs *lockedBuffer) *gatewayProc {
	t.Helper()
	cmd := exec.Command(bin)
	// The gateway reads every CLASSGATE_* variable as configuration and
	// rejects unknown keys: pass only ours.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLASSGATE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"CLASSGATE_SERVER__LISTEN="+addr,
		"CLASSGATE_DEV__ENABLED=true",
		"CLASSGATE_AUTH__HS256_SECRET="+e2eSecret,
	)
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	gw := &gatewayProc{url: "http://" + addr, addr: addr, bin: bin, logs: logs, cmd: cmd, done: done}
	t.Cleanup(func() {
		gw.stop()
		if t.Failed() {
			t.Logf("gateway output:\n%s", logs.String())
		}
	})

	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(gw.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return gw
			}
		}
		select {
		case <-done:
			t.Fatalf("gateway exited at start:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy after 90s (last error %v):\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the gateway (SIGCONT first, in case a test left it stopped),
// SIGTERM, then SIGKILL after 5 s.
func (gw *gatewayProc) stop() {
	_ = gw.cmd.Process.Signal(syscall.SIGCONT)
	_ = gw.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-gw.done:
	case <-time.After(5 * time.Second):
		_ = gw.cmd.Process.Kill()
		<-gw.done
	}
}

// pageBase returns the origin that serves the classroom page: the gateway
// itself when it mounts this package's Static handler, otherwise a local
// front that serves Static and proxies /ws and /dev/ to the gateway (same
// origin for the page, so the page works unchanged).
func pageBase(t *testing.T, gw *gatewayProc) string {
	t.Helper()
	resp, err := http.Get(gw.url + "/")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`src="/app.js`)) {
			return gw.url
		}
	}
	t.Log("the gateway does not serve the page at / (web.Static not mounted): serving it from the test, proxying /ws and /dev/")
	target, _ := url.Parse(gw.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.Handle("/ws", proxy)
	mux.Handle("/dev/", proxy)
	mux.Handle("/", Static())
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return front.URL
}

func kick(t *testing.T, gw *gatewayProc, user string) {
	t.Helper()
	resp, err := http.Get(gw.url + "/dev/kick?user=" + url.QueryEscape(user))
	if err != nil {
		t.Fatalf("kick: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kick: HTTP %d %s", resp.StatusCode, body)
	}
	var r struct{ Closed int }
	if json.Unmarshal(body, &r) == nil && r.Closed == 0 {
		t.Fatalf("kick closed no connection of %s: %s", user, body)
	}
}

// lockedBuffer collects a child process's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CLASSGATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("screenshots in %s", abs)
	return dir
}

// ---------------------------------------------------------------- a user

// browserUser is one person at the page, in a browser context of its own
// (own cookies and storage: two users never share a session).
type browserUser struct {
	name string
	ctx  context.Context
	art  string
}

func openUser(t *testing.T, browserCtx context.Context, name, art string, w, h int64) *browserUser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{}
	if w < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, opts...)); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	// Confirm dialogs (the teacher's clear button) are accepted.
	return &browserUser{name: name, ctx: ctx, art: art}
}

// kickAndResume closes this user's connections from the server (dev kick,
// code 1012) while its reconnects are held, runs meanwhile (the user is
// certainly offline during it), then lets the page reconnect.
func (u *browserUser) kickAndResume(t *testing.T, gw *gatewayProc, meanwhile func()) {
	t.Helper()
	var me struct{ ID string }
	u.eval(t, `classroom.me`, &me)
	if me.ID == "" {
		t.Fatal("no user id")
	}
	u.mustEval(t, `(classroom.hold(), true)`)
	kick(t, gw, me.ID)
	u.waitFor(t, "disconnected", `classroom.state === "reconnecting"`)
	u.waitFor(t, "indicator shows it", `document.querySelector('[data-testid=conn]').dataset.state === "reconnecting"`)
	u.shot(t, "07-kicked")
	meanwhile()
	u.mustEval(t, `(classroom.release(), true)`)
	u.waitFor(t, "reconnected", `classroom.state === "open"`)
	u.waitFor(t, "indicator open", `document.querySelector('[data-testid=conn]').dataset.state === "open"`)
}

func (u *browserUser) signIn(t *testing.T, base, name, role, room string) {
	t.Helper()
	u.signInAt(t, base+"/?room="+url.QueryEscape(room), name, role)
}

// signInAt opens page (the page's URL, with its query) and signs in
// through the dev form.
func (u *browserUser) signInAt(t *testing.T, page, name, role string) {
	t.Helper()
	u.do(t, "open page", chromedp.Navigate(page))
	u.do(t, "fill form",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-name]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=login-name]`), name),
		chromedp.Click(chromedp.CSS(`[data-testid=login-role-`+role+`]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
	)
	u.waitFor(t, "connected", `classroom.state === "open" && classroom.me !== null`)
	u.waitFor(t, "indicator open", `document.querySelector('[data-testid=conn]').dataset.state === "open"`)
	var me struct{ Name, Role string }
	u.eval(t, `classroom.me`, &me)
	if me.Name != name || me.Role != role {
		t.Fatalf("%s: signed in as %+v, want %s/%s", u.name, me, name, role)
	}
}

func (u *browserUser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, waitBudget)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.shot(t, "fail-"+slug(what))
		t.Fatalf("%s: %s: %v", u.name, what, err)
	}
}

// eval evaluates expr (awaiting a promise) and decodes its JSON value.
func (u *browserUser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	raw, err := u.evalRaw(expr)
	if err != nil {
		u.shot(t, "fail-eval")
		t.Fatalf("%s: eval %s: %v", u.name, expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: eval %s: decode %s: %v", u.name, expr, raw, err)
	}
}

func (u *browserUser) evalRaw(expr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(u.ctx, waitBudget)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
}

// isTrue reports whether the boolean expression expr is true now.
func (u *browserUser) isTrue(t *testing.T, expr string) bool {
	t.Helper()
	var ok bool
	u.eval(t, expr, &ok)
	return ok
}

// mustEval fails unless expr is true now.
func (u *browserUser) mustEval(t *testing.T, expr string) {
	t.Helper()
	var ok bool
	u.eval(t, expr, &ok)
	if !ok {
		u.shot(t, "fail-assert")
		t.Fatalf("%s: expected true: %s\nstate: %s", u.name, expr, u.diag())
	}
}

// waitFor polls expr until it is true, for at most waitBudget.
func (u *browserUser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	u.waitWithin(t, waitBudget, what, expr)
}

// waitWithin polls expr until it is true, for at most d.
func (u *browserUser) waitWithin(t *testing.T, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		raw, err := u.evalRaw(`(() => { try { return !!(` + expr + `); } catch (e) { return false; } })()`)
		if err == nil && string(raw) == "true" {
			return
		}
		lastErr = err
		if errors.Is(u.ctx.Err(), context.Canceled) || errors.Is(u.ctx.Err(), context.DeadlineExceeded) {
			break
		}
		time.Sleep(40 * time.Millisecond)
	}
	u.shot(t, "fail-"+slug(what))
	t.Fatalf("%s: timed out waiting for %s (%s); last error %v\nstate: %s", u.name, what, expr, lastErr, u.diag())
}

// diag summarises the page's state for failure messages.
func (u *browserUser) diag() string {
	raw, err := u.evalRaw(`JSON.stringify({state: classroom.state, me: classroom.me, features: classroom.features,
		elements: classroom.elements().length, chat: classroom.chat().map(m => [m.seq, m.text]),
		presence: classroom.presence(), errors: classroom.errors(),
		canvas: (c => [c.width, c.height, c.clientWidth, c.clientHeight])(document.querySelector('[data-testid=board]')),
		ink: classroom.ink(800, 500, 12), pixel: classroom.pixel(800, 500)})`)
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func (u *browserUser) click(t *testing.T, sel string) {
	t.Helper()
	u.do(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// type_ types text into the element; "\n" presses Enter.
func (u *browserUser) type_(t *testing.T, sel, text string) {
	t.Helper()
	u.do(t, "type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (u *browserUser) reload(t *testing.T) {
	t.Helper()
	u.do(t, "reload", chromedp.Reload())
}

// chatInputInView is true when the chat input is inside the viewport.
const chatInputInView = `(() => { const r = document.querySelector('[data-testid=chat-input]').getBoundingClientRect();
	return r.top >= 0 && r.bottom <= innerHeight && r.height > 0; })()`

// narrowLayoutJS measures the page on a narrow touch screen and returns the
// problems found ([] when none): controls under 44×44 px, the chat input or
// message text under 16 px, visible text under 12 px, the chat input out of
// the viewport.
const narrowLayoutJS = `(() => {
	const bad = [];
	const visible = (e) => { const r = e.getBoundingClientRect(); return e.offsetParent !== null && r.width > 0 && r.height > 0; };
	for (const e of document.querySelectorAll('#classroom button, #classroom input:not([type=radio]), #classroom select')) {
		if (!visible(e)) continue;
		const r = e.getBoundingClientRect();
		if (r.width < 44 || r.height < 44) bad.push('target ' + (e.dataset.testid || e.id || e.tagName) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
	}
	for (const sel of ['[data-testid=chat-input]', '[data-testid=message] .text', '[data-testid=person] .name']) {
		for (const e of document.querySelectorAll(sel)) {
			if (visible(e) && parseFloat(getComputedStyle(e).fontSize) < 16) bad.push('text ' + sel + ' ' + getComputedStyle(e).fontSize);
		}
	}
	const walk = document.createTreeWalker(document.querySelector('#classroom'), NodeFilter.SHOW_TEXT);
	for (let n = walk.nextNode(); n; n = walk.nextNode()) {
		const e = n.parentElement;
		if (!n.textContent.trim() || !e || !visible(e) || e.closest('.sr')) continue;
		if (parseFloat(getComputedStyle(e).fontSize) < 12) bad.push('small text "' + n.textContent.trim().slice(0, 20) + '" ' + getComputedStyle(e).fontSize);
	}
	if (!` + chatInputInView + `) bad.push('chat input out of view');
	return bad;
})()`

// checkNarrowLayout checks the tabbed layout of a narrow screen: each tab
// shows its view alone, the chat input stays in view on every tab, and
// narrowLayoutJS finds nothing on any of them. It ends on the board tab.
func (u *browserUser) checkNarrowLayout(t *testing.T, size string) {
	t.Helper()
	u.waitFor(t, "tabs shown at "+size, `getComputedStyle(document.querySelector('[data-testid=tab-board]').parentElement).display !== "none"`)
	views := map[string]string{"board": "board", "chat": "messages", "people": "presence"}
	for _, tab := range []string{"chat", "people", "board"} {
		u.click(t, `[data-testid=tab-`+tab+`]`)
		u.waitFor(t, tab+" tab selected", `classroom.tab === "`+tab+`" && document.querySelector('[data-testid=tab-`+tab+`]').getAttribute('aria-selected') === "true"`)
		for name, testid := range views {
			shown := `document.querySelector('[data-testid=` + testid + `]').getBoundingClientRect().height > 0`
			if name != tab {
				shown = "!" + shown
			}
			u.mustEval(t, shown)
		}
		// Scrolled to the end, the input is still in view and nothing is
		// hidden under it.
		u.mustEval(t, `(window.scrollTo(0, document.documentElement.scrollHeight), true)`)
		var bad []string
		u.eval(t, narrowLayoutJS, &bad)
		if len(bad) > 0 {
			t.Errorf("%s, %s tab: %v", size, tab, bad)
		}
		if tab == "chat" {
			u.mustEval(t, `(() => { const l = document.querySelector('[data-testid=messages]').getBoundingClientRect();
				const f = document.querySelector('.chat-form').getBoundingClientRect(); return l.bottom <= f.top + 1; })()`)
		}
		u.shot(t, "layout-"+size+"-"+tab)
	}
	// Keyboard: arrow keys move between the tabs (WAI-ARIA tabs pattern).
	u.do(t, "arrow right", chromedp.Focus(chromedp.CSS(`[data-testid=tab-board]`)), chromedp.KeyEvent(kb.ArrowRight))
	u.waitFor(t, "chat tab by keyboard", `classroom.tab === "chat" && document.activeElement === document.querySelector('[data-testid=tab-chat]')`)
	u.do(t, "arrow left", chromedp.KeyEvent(kb.ArrowLeft))
	u.waitFor(t, "board tab by keyboard", `classroom.tab === "board" && document.activeElement === document.querySelector('[data-testid=tab-board]')`)
}

type rect struct{ X, Y, W, H float64 }

// boardRect is the whiteboard canvas's position in the viewport (CSS px).
func (u *browserUser) boardRect(t *testing.T) rect {
	t.Helper()
	var r rect
	u.eval(t, `(() => { const b = document.querySelector('[data-testid=board]').getBoundingClientRect();
		return {x: b.x, y: b.y, w: b.width, h: b.height}; })()`, &r)
	if r.W == 0 || r.H == 0 {
		t.Fatalf("%s: the board has no size: %+v", u.name, r)
	}
	return r
}

// clickAt moves the mouse to (x, y) and clicks the left button there.
func (u *browserUser) clickAt(t *testing.T, x, y float64) {
	t.Helper()
	u.do(t, "click", chromedp.MouseEvent(chromedp.MouseMoved, x, y),
		chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1), buttons(1)),
		chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// drag presses the left button at from, moves to to in steps and releases.
func (u *browserUser) drag(t *testing.T, from, to [2]float64, steps int) {
	t.Helper()
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.MouseEvent(chromedp.MouseMoved, from[0], from[1]),
		chromedp.MouseEvent(chromedp.MousePressed, from[0], from[1], chromedp.ButtonLeft, chromedp.ClickCount(1), buttons(1)),
	}
	for i := 1; i <= steps; i++ {
		f := float64(i) / float64(steps)
		x := from[0] + f*(to[0]-from[0])
		y := from[1] + f*(to[1]-from[1])
		actions = append(actions, chromedp.MouseEvent(chromedp.MouseMoved, x, y, chromedp.ButtonLeft, buttons(1)))
	}
	actions = append(actions, chromedp.MouseEvent(chromedp.MouseReleased, to[0], to[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	u.do(t, "drag", actions...)
}

func buttons(b int64) chromedp.MouseOption {
	return func(p *input.DispatchMouseEventParams) { p.Buttons = b }
}

// shot writes a PNG screenshot of the viewport to the artifacts directory.
func (u *browserUser) shot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("%s: screenshot %s: %v", u.name, name, err)
		return
	}
	path := filepath.Join(u.art, u.name+"-"+name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Logf("write %s: %v", path, err)
	}
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
