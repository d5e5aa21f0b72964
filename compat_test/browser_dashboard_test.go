package compat_test

// The live dashboard (/dashboard/ of phxd, package phx/dashboard) in
// headless Chromium, through the same harness as the demo page's tests
// (browser/dashboard.js): the page shows the open socket count live while
// sockets open and close, a second page refused a stream (the cap) polls
// and shows it too, and the screenshot at a laptop's 1280×800 is saved to
// artifacts/browser/.

import (
	"image"
	"image/png"
	"os"
	"strconv"
	"strings"
	"testing"
)

// dashShown is what browser/dashboard.js reports.
type dashShown struct {
	Shown struct {
		Sockets, Websockets, Channels, TopRow, Status string
		SameDocument                                  bool
		ScrollWidth, ScrollHeight                     int
	}
	After, Polled struct {
		Sockets, Status string
		SameDocument    bool
	}
	Loads int
	Shot  string
}

func TestBrowserDashboard(t *testing.T) {
	t.Parallel()
	checkBrowserSetup(t)
	// Default flags (a loopback address: the dashboard is on) but one live
	// stream: the second page polls.
	srv := startWebServer(t, "-dashboard-streams", "1")
	const n, closed = 6, 4
	room := uniq("dash")
	res := runBrowser[dashShown](t, srv, "dashboard", map[string]any{"n": n, "close": closed, "room": room})

	if res.Shown.Sockets != strconv.Itoa(n) || res.Shown.Websockets != strconv.Itoa(n) || res.Shown.Channels != strconv.Itoa(n) {
		t.Errorf("with %d sockets open the page shows %+v", n, res.Shown)
	}
	if !strings.Contains(res.Shown.TopRow, "room:"+room) || !strings.Contains(res.Shown.Status, "live") {
		t.Errorf("top topic row %q, status %q: want room:%s, live", res.Shown.TopRow, res.Shown.Status, room)
	}
	if res.After.Sockets != strconv.Itoa(n-closed) {
		t.Errorf("after closing %d of %d sockets the page shows %s", closed, n, res.After.Sockets)
	}
	if res.Polled.Sockets != strconv.Itoa(n-closed) || !strings.Contains(res.Polled.Status, "polling") {
		t.Errorf("the page refused a stream shows %+v, want %d sockets, polling", res.Polled, n-closed)
	}
	if !res.Shown.SameDocument || !res.After.SameDocument || !res.Polled.SameDocument || res.Loads != 2 {
		t.Errorf("a page reloaded (%d loads for 2 pages): they must update live", res.Loads)
	}
	if res.Shown.ScrollWidth > 1280 || res.Shown.ScrollHeight > 800 {
		t.Errorf("the page is %d×%d: it must fit a 1280×800 laptop screen", res.Shown.ScrollWidth, res.Shown.ScrollHeight)
	}
	checkScreenshot(t, res.Shot, 1280, 800)

	want := "phxd dashboard: open http://" + srv.addr + "/dashboard/"
	srv.mu.Lock()
	logged := strings.Join(srv.lines, "\n")
	srv.mu.Unlock()
	if !strings.Contains(logged, want) {
		t.Errorf("phxd's start-up log lacks %q", want)
	}
}

// checkScreenshot asserts file is a PNG of w×h that shows a page, not a
// blank: many distinct colours and a size no flat image has.
func checkScreenshot(t *testing.T, file string, w, h int) {
	t.Helper()
	if file == "" {
		t.Fatal("no screenshot saved")
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %d×%d, want %d×%d", file, b.Dx(), b.Dy(), w, h)
	}
	if colours := distinctColours(img, 200); st.Size() < 20<<10 || colours < 50 {
		t.Errorf("%s looks blank: %d bytes, %d distinct colours", file, st.Size(), colours)
	}
	t.Logf("dashboard screenshot: %s (%d bytes)", file, st.Size())
}

// distinctColours counts the colours of img, stopping at limit.
func distinctColours(img image.Image, limit int) int {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[r>>8<<16|g>>8<<8|bl>>8] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}
