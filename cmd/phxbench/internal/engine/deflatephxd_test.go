package engine

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// Against a real phxd -compress: the clients' offer is agreed, phxd's
// presence_state and presence_diff arrive compressed, and every one of
// them, inflated, is the JSON a browser would parse.
func TestRealPhxdDeflatePresence(t *testing.T) {
	addr, _ := phxdtest.Start(t, phxdtest.Build(t), "-compress")
	const n = 120
	sc, _, err := scenario.Builtin("connect", scenario.BuiltinOptions{URL: "ws://" + addr + "/socket/websocket",
		Vsn: "2.0.0", N: n, Rate: 600, Topic: "room:bench", Token: "user:d{{id}}"})
	if err != nil {
		t.Fatal(err)
	}
	sc.Compress = true
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var states, diffs, bad int
	most := 0
	users := map[string]bool{}
	testOnMessage = func(payload []byte, _ bool) {
		if !bytes.Contains(payload[:min(len(payload), 64)], []byte(`"presence_`)) {
			return
		}
		var msg []json.RawMessage
		var body map[string]json.RawMessage
		var event string
		mu.Lock()
		defer mu.Unlock()
		if json.Unmarshal(payload, &msg) != nil || len(msg) != 5 || json.Unmarshal(msg[3], &event) != nil ||
			json.Unmarshal(msg[4], &body) != nil {
			bad++
			return
		}
		switch event {
		case "presence_state":
			states++
			for k := range body {
				id, err := strconv.Atoi(strings.TrimPrefix(k, "d")) // the example app keys presences by user id
				if err != nil || id < 0 || id >= n {
					bad++
				}
				users[k] = true
			}
			most = max(most, len(body))
		case "presence_diff":
			if _, ok := body["joins"]; !ok {
				bad++
			}
			diffs++
		}
	}
	defer func() { testOnMessage = nil }()
	r, err := Run(p, RunOptions{Procs: 1, Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	c, x := r.Counters, r.Compression
	if c.Joined != n || len(r.Errors) != 0 || x == nil {
		t.Fatalf("joined %d, errors %v, compression %+v", c.Joined, r.Errors, x)
	}
	if x.Mode != "deflate" || x.Offered != n || x.Negotiated != n || x.Messages < n/2 || x.BytesPlain < 3*x.BytesWire {
		t.Errorf("compression %+v", x)
	}
	// Every joiner gets its presence_state; the later ones list the earlier
	// joiners (users are distinct), so the largest lists most of the room
	// and together they name every user.
	if bad != 0 || states != n || diffs == 0 || most < n/2 || len(users) != n {
		t.Errorf("%d presence_state (largest %d members, %d users in all), %d presence_diff, %d malformed",
			states, most, len(users), diffs, bad)
	}
}
