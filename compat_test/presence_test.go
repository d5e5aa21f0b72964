package compat_test

// Presence (the room:* presence rules of cmd/phxd/README.md: presence_state
// to the joiner, presence_diff to every member) checked two ways:
//
//   - with the real phoenix.js Presence class (1.8.16 and 1.7.23) through the
//     scenarios of js/presence.js: list() and onJoin/onLeave as users join,
//     update, leave, crash, disconnect and lose their TCP connection, a user
//     with two sockets, and a burst of joins and leaves;
//   - against the presence frames recorded from Phoenix (testdata/compat),
//     compared as JSON values with phx_ref and online_at values opaque (each
//     distinct value gets a placeholder in order of appearance, so "the same
//     ref again" and "the same online_at kept by an update" are still checked).

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// runPresenceJS is runJS for the scenarios of js/presence.js, which node
// loads before js/run.js (it registers them in run.js's table).
func runPresenceJS[T any](t *testing.T, srv *phxd, lib jsLib, scenario string, args any) T {
	t.Helper()
	return runJSWith[T](t, srv, lib, "./js/presence.js", scenario, args)
}

// jsPresence is one key of presence.list() as js/presence.js reports it.
type jsPresence struct {
	Key   string `json:"key"`
	Metas []struct {
		Ref      string  `json:"ref"`
		Prev     *string `json:"prev"`
		Status   *string `json:"status"`
		OnlineAt any     `json:"online_at"`
	} `json:"metas"`
}

type jsCallback struct {
	Type   string   `json:"type"` // join, leave
	Key    string   `json:"key"`
	Cur    []string `json:"cur"` // nil: no current presence (onJoin of a new key)
	Joined []string `json:"joined"`
	Left   []string `json:"left"`
}

func presenceKeys(ps []jsPresence) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

func presenceOf(ps []jsPresence, key string) *jsPresence {
	for i := range ps {
		if ps[i].Key == key {
			return &ps[i]
		}
	}
	return nil
}

// phxRefRE: phxd's refs are 7 to 16 base64url characters (Phoenix's are 16;
// clients only compare them).
var phxRefRE = regexp.MustCompile(`^[A-Za-z0-9_-]{7,16}$`)

// A user's presence through its whole life, seen by another user's
// phoenix.js Presence: join, update, second socket, leave, crash and
// rejoin, disconnect, TCP loss. No ghost remains.
func TestJSPresenceLifecycle(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		tag := libTag(lib)
		a, b, c := uniq("pla"+tag), uniq("plb"+tag), uniq("plc"+tag)
		res := runPresenceJS[struct {
			JoinA     jsReply `json:"join_a"`
			JoinB1    jsReply `json:"join_b1"`
			JoinB2    jsReply `json:"join_b2"`
			JoinC     jsReply `json:"join_c"`
			SetStatus jsReply `json:"set_status"`
			Steps     []struct {
				Step string       `json:"step"`
				OK   bool         `json:"ok"`
				A    []jsPresence `json:"a"`
				B1   []jsPresence `json:"b1"`
				B2   []jsPresence `json:"b2"`
				C    []jsPresence `json:"c"`
			} `json:"steps"`
			CFirstRef  string       `json:"c_first_ref"`
			Final      []jsPresence `json:"final"`
			ACallbacks []jsCallback `json:"a_callbacks"`
		}](t, shared, lib, "presence_lifecycle", map[string]any{"users": []string{a, b, c}, "room": "room:" + uniq("pl"+tag)})

		want := map[string][]string{ // a's list after each step
			"a_joined": {a}, "b_joined": {a, b}, "b_away": {a, b}, "b_second_socket": {a, b},
			"b1_left": {a, b}, "c_crashed_and_rejoined": {a, b, c}, "b2_disconnected": {a, c}, "c_tcp_lost": {a},
		}
		for _, w := range want {
			slices.Sort(w)
		}
		if len(res.Steps) != len(want) {
			t.Fatalf("%d steps recorded, want %d", len(res.Steps), len(want))
		}
		for _, s := range res.Steps {
			if got := presenceKeys(s.A); !s.OK || !slices.Equal(got, want[s.Step]) {
				t.Fatalf("step %s: a's list() keys %v (condition met: %v), want %v", s.Step, got, s.OK, want[s.Step])
			}
		}
		st := func(name string) []jsPresence {
			for _, s := range res.Steps {
				if s.Step == name {
					return s.A
				}
			}
			return nil
		}
		// Metas: shape and values.
		first := presenceOf(st("a_joined"), a).Metas[0]
		if !phxRefRE.MatchString(first.Ref) || first.Prev != nil || first.Status != nil {
			t.Errorf("a's meta %+v: want a base64url phx_ref, no phx_ref_prev, no status", first)
		}
		if ms, ok := first.OnlineAt.(float64); !ok || time.Since(time.UnixMilli(int64(ms))).Abs() > 5*time.Minute {
			t.Errorf("online_at %v: want unix milliseconds of now", first.OnlineAt)
		}
		bJoined := presenceOf(st("b_joined"), b).Metas[0]
		if b1 := res.Steps[1].B1; !slices.Equal(presenceKeys(b1), want["b_joined"]) {
			t.Errorf("b's own list() after joining: %v, want %v", presenceKeys(b1), want["b_joined"])
		}
		away := presenceOf(st("b_away"), b).Metas
		if len(away) != 1 || away[0].Status == nil || *away[0].Status != "away" || away[0].Prev == nil ||
			*away[0].Prev != bJoined.Ref || away[0].Ref == bJoined.Ref || away[0].OnlineAt != bJoined.OnlineAt {
			t.Errorf("after set_status: b's metas %+v, want one with status away, phx_ref_prev %s, same online_at", away, bJoined.Ref)
		}
		for what, r := range map[string]jsReply{"join a": res.JoinA, "join b1": res.JoinB1, "join b2": res.JoinB2,
			"join c": res.JoinC, "set_status": res.SetStatus} {
			assertReply(t, what, r, "ok", `{}`)
		}
		two := presenceOf(st("b_second_socket"), b).Metas
		if len(two) != 2 || two[0].Ref != away[0].Ref || two[1].Status != nil {
			t.Errorf("b with two sockets: %+v, want the away meta then a new one", two)
		}
		if left := presenceOf(st("b1_left"), b).Metas; len(left) != 1 || left[0].Ref != two[1].Ref {
			t.Errorf("after b's first socket left: %+v, want only %s", left, two[1].Ref)
		}
		if cm := presenceOf(st("c_crashed_and_rejoined"), c).Metas; len(cm) != 1 || cm[0].Ref == res.CFirstRef {
			t.Errorf("after c crashed and rejoined: %+v, want one meta with a new ref (old %s)", cm, res.CFirstRef)
		}
		if got := presenceKeys(res.Final); !slices.Equal(got, []string{a}) {
			t.Errorf("final list %v, want [%s] (no ghost)", got, a)
		}
		checkPresenceCallbacks(t, res.ACallbacks, a, b, c, bJoined.Ref, away[0].Ref, two[1].Ref, res.CFirstRef)
	})
}

// checkPresenceCallbacks checks a's onJoin/onLeave calls, which phoenix.js
// derives from the frames exactly as it would from Phoenix's.
func checkPresenceCallbacks(t *testing.T, cbs []jsCallback, a, b, c, bRef, awayRef, b2Ref, cRef string) {
	t.Helper()
	var got []string
	for _, cb := range cbs {
		switch cb.Type {
		case "join":
			got = append(got, fmt.Sprintf("join %s cur=%v joined=%v", cb.Key, cb.Cur, cb.Joined))
		case "leave":
			got = append(got, fmt.Sprintf("leave %s cur=%v left=%v", cb.Key, cb.Cur, cb.Left))
		}
	}
	text := strings.Join(got, "\n")
	for _, w := range []string{
		fmt.Sprintf("join %s cur=[] joined=[%s]", b, bRef),
		// an update: the new meta joins next to the old one, then the old leaves
		fmt.Sprintf("join %s cur=[%s] joined=[%s]", b, bRef, awayRef),
		fmt.Sprintf("leave %s cur=[%s] left=[%s]", b, awayRef, bRef),
		fmt.Sprintf("join %s cur=[%s] joined=[%s]", b, awayRef, b2Ref),
		fmt.Sprintf("leave %s cur=[%s] left=[%s]", b, b2Ref, awayRef),
		fmt.Sprintf("leave %s cur=[] left=[%s]", c, cRef),
		fmt.Sprintf("leave %s cur=[] left=[%s]", b, b2Ref),
	} {
		if !strings.Contains(text, w) {
			t.Errorf("a's callbacks lack %q; got:\n%s", w, text)
		}
	}
	joins, leaves := 0, 0
	for _, cb := range cbs {
		if cb.Key == c && cb.Type == "join" {
			joins++
		}
		if cb.Key == c && cb.Type == "leave" {
			leaves++
		}
		if cb.Key == a && cb.Type == "leave" {
			t.Errorf("onLeave for the observer itself: %+v", cb)
		}
	}
	if joins != 2 || leaves != 2 {
		t.Errorf("c: %d onJoin and %d onLeave calls, want 2 and 2 (join, crash, rejoin, TCP loss):\n%s", joins, leaves, text)
	}
}

// A burst of joins and immediate leaves: everyone's list converges to the
// users who stayed, with far fewer diffs than changes.
func TestJSPresenceBurst(t *testing.T) {
	t.Parallel()
	const n, leavers = 40, 15
	forEachLib(t, func(t *testing.T, lib jsLib) {
		tag := libTag(lib)
		obs := uniq("pbo" + tag)
		users := make([]string, n)
		for i := range users {
			users[i] = uniq("pb" + tag)
		}
		res := runPresenceJS[struct {
			Converged    bool       `json:"converged"`
			Obs          []string   `json:"obs"`
			Views        [][]string `json:"views"`
			ObsDiffs     int        `json:"obs_diffs"`
			ObsMultiMeta []string   `json:"obs_multi_meta"`
		}](t, shared, lib, "presence_burst", map[string]any{"observer": obs, "users": users, "leavers": leavers,
			"room": "room:" + uniq("pb"+tag)})
		want := append([]string{obs}, users[leavers:]...)
		slices.Sort(want)
		if !res.Converged || !slices.Equal(res.Obs, want) {
			t.Fatalf("observer's list %v (converged %v), want %v", res.Obs, res.Converged, want)
		}
		for i, v := range res.Views {
			if !slices.Equal(v, want) {
				t.Errorf("user %d's list %v, want %v", leavers+i, v, want)
			}
		}
		if len(res.ObsMultiMeta) > 0 {
			t.Errorf("keys with other than one meta: %v", res.ObsMultiMeta)
		}
		t.Logf("%d joins + %d leaves: the observer got %d presence_diff messages", n, leavers, res.ObsDiffs)
		if res.ObsDiffs >= n+leavers {
			t.Errorf("%d presence_diff messages for %d changes: no batching", res.ObsDiffs, n+leavers)
		}
	})
}
