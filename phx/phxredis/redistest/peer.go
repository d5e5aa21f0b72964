package redistest

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// PeerTimeout bounds one run of the Phoenix peer.
var PeerTimeout = 60 * time.Second

// PhoenixPeer runs phx/phxredis's escript (testdata/phoenix_peer.escript),
// the stand-in for an Elixir node on phoenix_pubsub_redis that writes and
// reads the channel with the real term_to_binary and binary_to_term, with
// args, and returns its stdout lines as they come, decoded; the channel
// closes when it exits. It needs Debian's escript (package erlang-base):
// the test fails, never skips, without it. The process is stopped when the
// test ends; its stderr is logged if the test failed.
func PhoenixPeer(t testing.TB, args ...string) (<-chan map[string]any, *exec.Cmd) {
	t.Helper()
	bin := lookPath(t, "escript")
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("redistest: cannot locate phoenix_peer.escript (no caller information)")
	}
	script := filepath.Join(filepath.Dir(self), "..", "testdata", "phoenix_peer.escript")
	ctx, cancel := context.WithTimeout(context.Background(), PeerTimeout)
	cmd := exec.CommandContext(ctx, bin, append([]string{script}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	lines := make(chan map[string]any, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("escript printed %q: %v", sc.Text(), err)
				continue
			}
			lines <- m
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("escript stderr:\n%s", stderr.String())
		}
	})
	return lines, cmd
}
