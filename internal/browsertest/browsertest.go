// Package browsertest starts Debian's Chromium headless for the project's
// browser tests (chromedp), with the flags this sandboxed, offline machine
// needs, so every browser test starts it the same way.
package browsertest

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/classgate/classgate/internal/proc"
)

// Start finds (or installs) Chromium and starts it headless with a window
// of width × height. It returns a browser context whose lifetime is
// bounded by ctx, and skips the test when Chromium cannot start. The
// browser stops at test cleanup.
func Start(t testing.TB, ctx context.Context, width, height int) context.Context {
	t.Helper()
	chromium := proc.Chromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium),
			chromedp.NoSandbox, // root in CI containers
			chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("no-first-run", true),
			chromedp.WindowSize(width, height),
		)...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Skipf("cannot start Chromium %s: %v", chromium, err)
	}
	return browserCtx
}
